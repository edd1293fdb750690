#include "cache/store.hpp"

#include <algorithm>
#include <chrono>

namespace gatehouse::cache {

store& store::instance() {
    static store s;
    return s;
}

void store::configure(const store_settings& s) {
    max_bytes_.store(s.max_bytes, std::memory_order_relaxed);
    max_entry_bytes_.store(s.max_entry_bytes, std::memory_order_relaxed);
    evict_beyond_budget();  // a smaller max_bytes applies at once
}

store_settings store::settings() const {
    return {max_bytes_.load(std::memory_order_relaxed), max_entry_bytes_.load(std::memory_order_relaxed)};
}

namespace {
constexpr std::size_t k_max_uncacheable_marks = 10000;  // per shard; older marks are dropped beyond it

bool vary_matches(const entry& e, http::field_list fields) {
    for (auto& [name, value] : e.vary)
        if (vary_value(fields, name) != value) return false;
    return true;
}
}  // namespace

store::found store::find(std::string_view url, std::string_view extras, std::string_view key, http::field_list request_fields) {
    const auto h = hash(url);
    auto& s = shard_by_hash(h);
    std::lock_guard lock(s.mu);
    found f;
    if (!s.uncacheable.empty()) {
        if (auto u = s.uncacheable.find(key.size() == url.size() ? h : hash(key)); u != s.uncacheable.end()) {
            if (steady_ns() < u->second) f.uncacheable = true;
            else s.uncacheable.erase(u);
        }
    }
    auto it = s.by_url.find(h);
    if (it == s.by_url.end()) return f;
    for (auto v : it->second) {
        const entry& e = *v->e;
        if (e.extras != extras || e.url != url) continue;
        f.url_known = true;
        if (!vary_matches(e, request_fields)) continue;
        s.lru.splice(s.lru.begin(), s.lru, v);
        v->used = steady_ns();
        f.hit = v->e;
        return f;
    }
    return f;
}

void store::erase_locked(shard& s, std::vector<lru_list::iterator>& variants, std::size_t i) {
    auto it = variants[i];
    stats_.bytes.fetch_sub(it->e->bytes, std::memory_order_relaxed);
    stats_.entries.fetch_sub(1, std::memory_order_relaxed);
    s.lru.erase(it);
    variants.erase(variants.begin() + static_cast<std::ptrdiff_t>(i));
}

void store::insert(std::shared_ptr<const entry> e) {
    {
        const auto h = hash(e->url);
        auto& s = shard_by_hash(h);
        std::lock_guard lock(s.mu);
        if (!s.uncacheable.empty()) s.uncacheable.erase(e->extras.empty() ? h : hash(e->key()));
        auto& variants = s.by_url[h];
        for (std::size_t i = 0; i < variants.size(); ++i) {
            const entry& old = *variants[i]->e;
            if (old.url == e->url && old.extras == e->extras && old.vary == e->vary) {
                erase_locked(s, variants, i);
                break;
            }
        }
        if (variants.size() >= k_max_variants) {  // the oldest stored variant of this URL (hash) goes
            erase_locked(s, variants, 0);
            stats_.evictions.fetch_add(1, std::memory_order_relaxed);
        }
        stats_.bytes.fetch_add(e->bytes, std::memory_order_relaxed);
        stats_.entries.fetch_add(1, std::memory_order_relaxed);
        s.lru.push_front(slot{std::move(e), steady_ns()});
        variants.push_back(s.lru.begin());
    }
    evict_beyond_budget();
}

void store::evict_beyond_budget() {
    while (stats_.bytes.load(std::memory_order_relaxed) > max_bytes_.load(std::memory_order_relaxed))
        if (!evict_one()) return;
}

// The least recently used entry of the whole store: the oldest of the shards' LRU tails. One
// shard lock at a time; a tail that moved meanwhile is looked at again on the next round.
bool store::evict_one() {
    std::size_t oldest_shard = k_shards;
    std::int64_t oldest = 0;
    for (std::size_t i = 0; i < k_shards; ++i) {
        auto& s = shards_[i];
        std::lock_guard lock(s.mu);
        if (s.lru.empty()) continue;
        auto used = s.lru.back().used;
        if (oldest_shard == k_shards || used < oldest) {
            oldest_shard = i;
            oldest = used;
        }
    }
    if (oldest_shard == k_shards) return false;
    auto& s = shards_[oldest_shard];
    std::lock_guard lock(s.mu);
    if (s.lru.empty()) return true;
    auto victim = std::prev(s.lru.end());
    auto url_it = s.by_url.find(hash(victim->e->url));
    auto& variants = url_it->second;
    auto pos = std::find(variants.begin(), variants.end(), victim);
    erase_locked(s, variants, static_cast<std::size_t>(pos - variants.begin()));
    if (variants.empty()) s.by_url.erase(url_it);
    stats_.evictions.fetch_add(1, std::memory_order_relaxed);
    return true;
}

std::size_t store::purge_if(const auto& pred) {
    std::size_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        for (auto it = s.by_url.begin(); it != s.by_url.end();) {
            auto& variants = it->second;
            for (std::size_t i = variants.size(); i-- > 0;)
                if (pred(*variants[i]->e)) {
                    erase_locked(s, variants, i);
                    ++n;
                }
            it = variants.empty() ? s.by_url.erase(it) : std::next(it);
        }
    }
    stats_.purges.fetch_add(n, std::memory_order_relaxed);
    return n;
}

// The variants of one URL that `pred` picks, under that URL's shard lock.
std::size_t store::purge_variants(std::string_view url, const std::function<bool(const entry&)>& pred) {
    const auto h = hash(url);
    auto& s = shard_by_hash(h);
    std::size_t n = 0;
    {
        std::lock_guard lock(s.mu);
        auto it = s.by_url.find(h);
        if (it == s.by_url.end()) return 0;
        auto& variants = it->second;
        for (std::size_t i = variants.size(); i-- > 0;)
            if (variants[i]->e->url == url && pred(*variants[i]->e)) {
                erase_locked(s, variants, i);
                ++n;
            }
        if (variants.empty()) s.by_url.erase(it);
    }
    stats_.purges.fetch_add(n, std::memory_order_relaxed);
    return n;
}

std::size_t store::purge_key(std::string_view key) {
    auto url = url_of_key(key);
    auto extras = key.size() > url.size() ? key.substr(url.size() + 1) : std::string_view{};
    return purge_variants(url, [&](const entry& e) { return e.extras == extras; });
}

std::size_t store::purge_url(std::string_view url) {
    return purge_variants(url, [](const entry&) { return true; });
}

std::size_t store::purge_tag(std::string_view tag) {
    return purge_if([&](const entry& e) { return std::find(e.tags.begin(), e.tags.end(), tag) != e.tags.end(); });
}

std::size_t store::purge_all() {
    return purge_if([](const entry&) { return true; });
}

void store::end_fill(std::string_view key, const std::shared_ptr<fill>& f) {
    std::vector<std::shared_ptr<waiter>> wake;
    {
        auto& s = shard_of(url_of_key(key));
        std::lock_guard lock(s.mu);
        auto it = s.fills.find(key);
        if (it != s.fills.end() && it->second == f) s.fills.erase(it);
        wake.swap(f->waiters);
        stats_.waiting.fetch_sub(wake.size(), std::memory_order_relaxed);
    }
    for (auto& w : wake) w->wake();
}

void store::leave_fill(std::string_view key, const std::shared_ptr<fill>& f, const waiter* w) {
    auto& s = shard_of(url_of_key(key));
    std::lock_guard lock(s.mu);
    auto it = std::find_if(f->waiters.begin(), f->waiters.end(), [&](auto& p) { return p.get() == w; });
    if (it == f->waiters.end()) return;
    f->waiters.erase(it);
    stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
}

void store::mark_uncacheable(std::string_view key, std::chrono::nanoseconds how_long) {
    auto& s = shard_of(url_of_key(key));
    std::lock_guard lock(s.mu);
    if (s.uncacheable.size() >= k_max_uncacheable_marks) s.uncacheable.clear();
    s.uncacheable[hash(key)] = steady_ns() + how_long.count();
}

void store::clear_uncacheable(std::string_view key) {
    auto& s = shard_of(url_of_key(key));
    std::lock_guard lock(s.mu);
    s.uncacheable.erase(hash(key));
}

bool store::claim_refresh(std::string_view key) {
    auto& s = shard_of(url_of_key(key));
    std::lock_guard lock(s.mu);
    return s.refreshing.emplace(std::string(key), true).second;
}

void store::end_refresh(std::string_view key) {
    auto& s = shard_of(url_of_key(key));
    std::lock_guard lock(s.mu);
    if (auto it = s.refreshing.find(key); it != s.refreshing.end()) s.refreshing.erase(it);
}

std::vector<std::shared_ptr<const entry>> store::entries() {
    std::vector<std::shared_ptr<const entry>> out;
    for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        for (auto& e : s.lru) out.push_back(e.e);
    }
    return out;
}

bool store_response(std::string url, std::string extras, whole_response r, http::field_list request_fields, const storing& how) {
    auto facts = examine(r.status, r.fields, how.authorized, how.cache_authorized, how.fresh);
    if (facts.not_storable || r.body.size() > store::instance().settings().max_entry_bytes) return false;
    auto e = make_entry(std::move(url), std::move(extras), r.status, r.fields, request_fields, facts, how.fresh, r.request_time, r.response_time);
    e->body = std::make_shared<const std::string>(std::move(r.body));
    e->compute_bytes();
    store::instance().insert(std::move(e));
    return true;
}

}  // namespace gatehouse::cache
