#pragma once
// One worker's front of a decision_cache: recent fresh decisions, found without a lock and
// without writing memory other workers read (the shared cache's lookup takes a shard's mutex and
// moves the key to the front of its LRU list on every hit). A small direct-mapped table by the
// key's hash; an entry holds its key, the decision, how long it is fresh, and the shared cache's
// generation it was read under: a purge changes the generation (decision_cache::generation), so
// every worker's entries stop counting at once. A decision found here does not refresh the
// shared cache's LRU recency: a key hot in the fronts may be evicted there, and is asked again
// once it is no longer fresh.
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

    // The decision kept for the key of `pieces` (complete, hash `hash`: key_hash) if it was kept
    // under `generation`, is fresh at `now` and applies to `client_address`; else null.
    const outcome* find(std::uint64_t generation, std::uint64_t hash, const key_pieces& pieces, std::string_view client_address,
                        steady_time now) const;
    // Keeps `o` (found fresh in the shared cache under `generation`, read before the lookup) in
    // place of whatever had the slot.
    void keep(std::uint64_t generation, std::uint64_t hash, std::string_view key, std::shared_ptr<const outcome> o, steady_time fresh_until);

private:
    struct entry {
        std::uint64_t generation = 0;  // 0: empty (generations start at 1)
        std::uint64_t hash = 0;
        steady_time fresh_until{};
        std::shared_ptr<const outcome> what;
        std::string key;
    };
    std::array<entry, k_slots> slots_;
};

}  // namespace gatehouse::middleware::ext_authz
