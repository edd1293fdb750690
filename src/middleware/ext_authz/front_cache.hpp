#pragma once
// One worker's front of a decision_cache: recent fresh decisions, found without a lock and
// without writing memory other workers read (the shared cache's lookup takes a shard's mutex and
// moves the key to the front of its LRU list on every hit). A small direct-mapped table by the
// key's hash; an entry holds its key, the decision, how long it is fresh, and the shared cache's
// generation it was read under: a purge changes the generation (decision_cache::generation), so
// every worker's entries stop counting at once. Every k_touch_every-th hit on an entry asks the
// caller to refresh the key's place in the shared cache's LRU list (decision_cache::touch), so
// a key hot in the fronts is not evicted there as if unused (its stale copy, for
// stale_if_error, and the other workers' hits live there).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "middleware/ext_authz/check_request.hpp"
#include "middleware/ext_authz/decision_cache.hpp"

namespace gatehouse::middleware::ext_authz {

class front_cache {
public:
    static constexpr std::size_t k_slots = 64;
    static constexpr std::uint32_t k_touch_every = 64;

    struct hit {
        const outcome* what = nullptr;  // null: not here
        std::string_view touch;         // not empty: the key, due for decision_cache::touch
    };
    // The decision kept for the key of `pieces` (complete, hash `hash`: key_hash) if it was kept
    // under `generation`, is fresh at `now` and applies to `client_address`.
    hit find(std::uint64_t generation, std::uint64_t hash, const key_pieces& pieces, std::string_view client_address, steady_time now);
    // Keeps `o` (found fresh in the shared cache under `generation`, read before the lookup) in
    // place of whatever had the slot.
    void keep(std::uint64_t generation, std::uint64_t hash, std::string_view key, std::shared_ptr<const outcome> o,
              steady_time fresh_until);

private:
    struct entry {
        std::uint64_t generation = 0;  // 0: empty (generations start at 1)
        std::uint64_t hash = 0;
        std::uint32_t hits = 0;  // since kept
        steady_time fresh_until{};
        std::shared_ptr<const outcome> what;
        std::string key;
    };
    std::array<entry, k_slots> slots_;
};

}  // namespace gatehouse::middleware::ext_authz
