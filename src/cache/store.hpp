#pragma once
// The response store: one per process, shared by every worker (top-level `cache:`). Entries are
// immutable once stored (a hit holds a shared_ptr while it writes, so eviction or a purge never
// pulls bytes from under a write); a revalidation stores a new entry that shares the body.
//
// Layout: 32 shards by hash of the URL, each a mutex over a map URL -> variants (one per key
// extras + Vary values) and an LRU list. Memory is accounted in bytes over the whole store;
// inserting beyond max_bytes evicts least recently used entries, the inserting shard first.
// A lookup holds one shard's lock for a hash lookup and a list splice; nothing else is locked
// on the request path.
//
// Coalescing: the first miss on a key leads a fill; later misses on that key join it as waiters
// and are woken (waiter::wake, from the leader's thread) when the fill ends: stored, not
// storable, or failed. Background revalidations are claimed once per key the same way.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/entry.hpp"
#include "util/time.hpp"

namespace gatehouse::cache {

// How long a key whose answer could not be stored skips coalescing (store::mark_uncacheable;
// Varnish's hit-for-miss lasts 120 s too).
inline constexpr std::chrono::seconds k_hit_for_miss{120};

struct store_settings {
    std::uint64_t max_bytes = 256ull << 20;
    std::uint64_t max_entry_bytes = 8ull << 20;
};

// Someone waiting for a fill; wake() is called once, from any thread.
struct waiter {
    virtual ~waiter() = default;
    virtual void wake() = 0;
};

struct fill {
    std::vector<std::shared_ptr<waiter>> waiters;  // under the shard lock
};

struct store_stats {
    std::atomic<std::uint64_t> bytes{0}, entries{0}, evictions{0}, purges{0}, waiting{0};
};

class store {
public:
    static store& instance();
    void configure(const store_settings& s);
    store_settings settings() const;

    struct found {
        std::shared_ptr<const entry> hit;
        bool url_known = false;    // something is stored for this URL and extras (a vary-miss otherwise a uri-miss)
        bool uncacheable = false;  // no hit, and the key is marked uncacheable (mark_uncacheable)
    };
    // The variant of (url, extras) whose Vary values match the request's fields; refreshes its LRU
    // place. `key` is url + " " + extras (url alone without extras).
    found find(std::string_view url, std::string_view extras, std::string_view key, http::field_list request_fields);
    // Stores e (replacing the variant with the same extras and Vary values); evicts beyond max_bytes.
    void insert(std::shared_ptr<const entry> e);

    // Purges; each returns how many entries went.
    std::size_t purge_key(std::string_view key);
    std::size_t purge_url(std::string_view url);
    std::size_t purge_tag(std::string_view tag);
    std::size_t purge_all();

    // Coalescing: nullptr when the caller leads a new fill of `key` (set in `led`), else the
    // running fill, which the waiter from make_waiter() (called only then) has joined as `w`.
    // end_fill wakes every waiter.
    // Neither (nullptr, `led` unset): the key is marked uncacheable (mark_uncacheable), and the
    // request goes to the origin without waiting for anyone.
    template <class MakeWaiter>
    std::shared_ptr<fill> join_or_lead(std::string_view key, MakeWaiter&& make_waiter, std::shared_ptr<fill>& led,
                                       std::shared_ptr<waiter>& w) {
        auto& s = shard_of(url_of_key(key));
        std::lock_guard lock(s.mu);
        if (!s.uncacheable.empty()) {
            if (auto u = s.uncacheable.find(hash(key)); u != s.uncacheable.end()) {
                if (steady_ns() < u->second) return nullptr;
                s.uncacheable.erase(u);
            }
        }
        auto it = s.fills.find(key);
        if (it == s.fills.end()) {
            led = std::make_shared<fill>();
            s.fills.emplace(std::string(key), led);
            return nullptr;
        }
        w = make_waiter();
        it->second->waiters.push_back(w);
        stats_.waiting.fetch_add(1, std::memory_order_relaxed);
        return it->second;
    }
    void end_fill(std::string_view key, const std::shared_ptr<fill>& f);
    void leave_fill(std::string_view key, const std::shared_ptr<fill>& f, const waiter* w);
    // Hit-for-miss (Varnish's name): the origin's last answer for `key` could not be stored, so
    // for `how_long` misses on it do not queue behind each other; storing a response for the
    // key lifts the mark.
    void mark_uncacheable(std::string_view key, std::chrono::nanoseconds how_long);
    void clear_uncacheable(std::string_view key);
    // One background revalidation per key at a time.
    bool claim_refresh(std::string_view key);
    void end_refresh(std::string_view key);

    // Every entry, for the admin API (a copy of the pointers).
    std::vector<std::shared_ptr<const entry>> entries();
    store_stats& stats() { return stats_; }

    static constexpr std::size_t k_shards = 32;
    static constexpr std::size_t k_max_variants = 32;

private:
    struct identity_hash {
        std::size_t operator()(std::uint64_t h) const { return static_cast<std::size_t>(h); }
    };
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    // An entry and when it was last used (steady clock, ns): eviction takes the least recently
    // used of the shards' LRU tails, so the store as a whole evicts in LRU order.
    struct slot {
        std::shared_ptr<const entry> e;
        std::int64_t used = 0;
    };
    using lru_list = std::list<slot>;
    struct shard {
        std::mutex mu;
        // URL hash -> the variants of that URL (and of any other URL with the same hash: every
        // lookup compares the URL too). One hash computation per lookup picks shard and slot.
        std::unordered_map<std::uint64_t, std::vector<lru_list::iterator>, identity_hash> by_url;
        lru_list lru;  // front: most recently used
        std::unordered_map<std::string, std::shared_ptr<fill>, string_hash, std::equal_to<>> fills;
        std::unordered_map<std::string, bool, string_hash, std::equal_to<>> refreshing;
        std::unordered_map<std::uint64_t, std::int64_t, identity_hash> uncacheable;  // hash of key -> until (steady ns)
    };
    static std::uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
    // The shard takes the hash's high bits, the maps its low ones.
    shard& shard_by_hash(std::uint64_t h) { return shards_[(h >> 58) % k_shards]; }
    shard& shard_of(std::string_view url) { return shard_by_hash(hash(url)); }
    static std::string_view url_of_key(std::string_view key) { return key.substr(0, key.find(' ')); }
    static std::int64_t steady_ns() { return util::ns_of(std::chrono::steady_clock::now()); }
    void erase_locked(shard& s, std::vector<lru_list::iterator>& variants, std::size_t i);
    std::size_t purge_if(const auto& pred);
    std::size_t purge_variants(std::string_view url, const std::function<bool(const entry&)>& pred);
    void evict_beyond_budget();
    bool evict_one();

    shard shards_[k_shards];
    std::atomic<std::uint64_t> max_bytes_{256ull << 20}, max_entry_bytes_{8ull << 20};
    store_stats stats_;
};

// A whole response in hand (a background refresh, a composition's call with `cache: true`): stored
// when RFC 9111 allows it (examine) and it fits max_entry_bytes. `request_fields`: what the
// request sent, for the response's Vary values. True when it was stored.
struct whole_response {
    int status = 0;
    http::field_list fields;
    std::string body;
    sys_time request_time{}, response_time{};
};
struct storing {
    bool authorized = false;        // the request carried Authorization
    bool cache_authorized = false;  // such responses may be stored at all
    freshness_settings fresh;
};
bool store_response(std::string url, std::string extras, whole_response r, http::field_list request_fields, const storing& how);

}  // namespace gatehouse::cache
