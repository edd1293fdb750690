#include "middleware/ext_authz/decision_cache.hpp"

#include <algorithm>

namespace gatehouse::middleware::ext_authz {

std::uint64_t decision_cache::next_generation() {
    static std::atomic<std::uint64_t> next{1};  // process-wide: no two caches ever share one
    return next.fetch_add(1, std::memory_order_relaxed);
}

bool decision_cache::same_vary(const outcome& a, const outcome& b) {
    if (a.vary.size() != b.vary.size()) return false;
    for (std::size_t i = 0; i < a.vary.size(); ++i)
        if (a.vary[i].first != b.vary[i].first) return false;
    return true;
}

decision_cache::found decision_cache::find(std::string_view key, std::string_view client_address, steady_time now) {
    auto& s = shard_of(key);
    found out;
    std::lock_guard lock(s.mu);
    auto it = s.index.find(key);
    if (it == s.index.end()) return out;
    auto& n = *it->second;
    std::erase_if(n.variants, [&](const variant& v) { return v.usable_until <= now; });
    if (n.variants.empty()) {
        auto node_it = it->second;
        s.index.erase(it);
        s.lru.erase(node_it);
        return out;
    }
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    for (auto& v : n.variants) {
        if (!answer_applies(*v.what, client_address)) continue;
        if (v.fresh_until > now) {
            out.fresh = v.what;
            out.fresh_until = v.fresh_until;
        } else {
            out.stale = v.what;
        }
        break;
    }
    return out;
}

void decision_cache::touch(std::string_view key) {
    auto& s = shard_of(key);
    std::lock_guard lock(s.mu);
    if (auto it = s.index.find(key); it != s.index.end()) s.lru.splice(s.lru.begin(), s.lru, it->second);
}

void decision_cache::insert(std::string_view key, std::shared_ptr<const outcome> o, steady_time now, std::chrono::seconds stale_for) {
    if (o->ttl.count() <= 0 || o->result == outcome::kind::error) return;
    variant v{o, now + o->ttl, now + o->ttl + (o->result == outcome::kind::allow ? stale_for : std::chrono::seconds(0))};
    auto& s = shard_of(key);
    std::lock_guard lock(s.mu);
    if (auto it = s.index.find(key); it != s.index.end()) {
        auto& n = *it->second;
        // A changed Vary makes the old variants meaningless; the same values replace theirs.
        if (!n.variants.empty() && !same_vary(*n.variants.front().what, *o)) n.variants.clear();
        std::erase_if(n.variants, [&](const variant& x) { return x.what->vary == o->vary || x.usable_until <= now; });
        if (n.variants.size() >= k_max_variants) n.variants.erase(n.variants.begin());
        n.variants.push_back(std::move(v));
        s.lru.splice(s.lru.begin(), s.lru, it->second);
        return;
    }
    s.lru.push_front(node{std::string(key), {}});
    s.lru.front().variants.push_back(std::move(v));
    s.index.emplace(s.lru.front().key, s.lru.begin());
    while (s.lru.size() > per_shard_) {
        s.index.erase(s.lru.back().key);
        s.lru.pop_back();
    }
}

std::shared_ptr<flight> decision_cache::join(std::string_view key, std::shared_ptr<gatehouse::cache::waiter> w, bool& leader, steady_time now,
                                             std::chrono::steady_clock::duration max_age) {
    auto& s = shard_of(key);
    std::lock_guard lock(s.mu);
    auto it = s.flights.find(key);
    leader = it == s.flights.end() || it->second->started + max_age <= now;
    if (leader) {
        auto f = std::make_shared<flight>();
        f->started = now;
        if (it == s.flights.end()) it = s.flights.emplace(std::string(key), std::move(f)).first;
        else it->second = std::move(f);  // the old call's end() finds another flight under the key and leaves it
    }
    it->second->waiters.push_back(std::move(w));
    return it->second;
}

void decision_cache::end(std::string_view key, const std::shared_ptr<flight>& f, std::shared_ptr<const outcome> result) {
    std::vector<std::shared_ptr<gatehouse::cache::waiter>> wake;
    {
        auto& s = shard_of(key);
        std::lock_guard lock(s.mu);
        f->result = std::move(result);
        if (auto it = s.flights.find(key); it != s.flights.end() && it->second == f) s.flights.erase(it);
        wake.swap(f->waiters);
    }
    for (auto& w : wake) w->wake();
}

void decision_cache::leave(std::string_view key, const std::shared_ptr<flight>& f, const gatehouse::cache::waiter* w) {
    auto& s = shard_of(key);
    std::lock_guard lock(s.mu);
    std::erase_if(f->waiters, [w](const auto& p) { return p.get() == w; });
}

std::size_t decision_cache::purge() {
    std::size_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.lru.size();
        s.index.clear();
        s.lru.clear();
    }
    // After the clear: a front copy tagged with a generation read before this store may come
    // from a find before the clear, and no longer counts; one read after it found nothing old.
    generation_.store(next_generation(), std::memory_order_release);
    return n;
}

std::size_t decision_cache::size() {
    std::size_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.lru.size();
    }
    return n;
}

}  // namespace gatehouse::middleware::ext_authz
