#include "middleware/ext_authz/front_cache.hpp"

namespace gatehouse::middleware::ext_authz {

front_cache::hit front_cache::find(std::uint64_t generation, std::uint64_t hash, const key_pieces& pieces, std::string_view client_address,
                                   steady_time now) {
    auto& e = slots_[hash % k_slots];
    if (e.generation != generation || e.hash != hash || e.fresh_until <= now || !key_equals(pieces, e.key)) return {};
    if (!e.what->vary.empty() && !answer_applies(*e.what, client_address)) return {};
    hit h{e.what.get(), {}};
    if (++e.hits % k_touch_every == 0) h.touch = e.key;
    return h;
}

void front_cache::keep(std::uint64_t generation, std::uint64_t hash, std::string_view key, std::shared_ptr<const outcome> o,
                       steady_time fresh_until) {
    auto& e = slots_[hash % k_slots];
    e.generation = generation;
    e.hash = hash;
    e.hits = 0;
    e.fresh_until = fresh_until;
    e.what = std::move(o);
    e.key.assign(key);
}

}  // namespace gatehouse::middleware::ext_authz
