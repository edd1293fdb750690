#include "middleware/rate_limit/local_table.hpp"

#include <algorithm>

namespace gatehouse::middleware::rate_limit {

void local_table::put(shard& s, std::string_view key, std::int64_t tat, std::int64_t now) {
    if (auto it = s.tat.find(key); it != s.tat.end()) {
        it->second = tat;
        return;
    }
    if (s.tat.size() >= shard_cap_) {
        std::size_t before = s.tat.size();
        std::erase_if(s.tat, [now](const auto& kv) { return kv.second <= now; });  // forgotten exactly
        if (s.tat.size() >= shard_cap_) {
            // Still full of live keys (a flood of distinct ones): drop the one nearest to being
            // forgotten among a few, like Redis' sampled eviction. That key may get a fresh
            // burst early; the cap hit says so.
            auto victim = s.tat.begin();
            std::size_t n = 0;
            for (auto it = s.tat.begin(); it != s.tat.end() && n < 8; ++it, ++n)
                if (it->second < victim->second) victim = it;
            s.tat.erase(victim);
            cap_hits_.fetch_add(1, std::memory_order_relaxed);
        }
        keys_.fetch_sub(static_cast<std::int64_t>(before - s.tat.size()), std::memory_order_relaxed);
    }
    s.tat.emplace(std::string(key), tat);
    keys_.fetch_add(1, std::memory_order_relaxed);
}

std::size_t local_table::size() const { return static_cast<std::size_t>(std::max<std::int64_t>(0, keys_.load(std::memory_order_relaxed))); }

}  // namespace gatehouse::middleware::rate_limit
