#pragma once
// ext_authz's decisions, shared by every worker of one configured use (kept across reloads by
// identity). 16 shards by hash of the key, each a mutex over a map key -> node and an LRU list;
// a lookup holds one shard's lock for a hash lookup and a list splice. A node holds the
// variants of its key (the answers' Vary: one per client address, for instance).
//
// Generation: a number unique to this cache and its contents' epoch, changed by purge; the
// workers' front caches (front_cache.hpp) tag what they copy with it, so a purge reaches them.
//
// Coalescing: the first miss on a key leads the call; later misses join it as waiters. The
// leader waits the same way; when the call ends the result is set on the flight and every
// waiter is woken (cache::waiter::wake, from the thread the call ended on).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/store.hpp"
#include "middleware/ext_authz/check_request.hpp"

namespace gatehouse::middleware::ext_authz {

using steady_time = std::chrono::steady_clock::time_point;

// One call in progress for a key.
struct flight {
    std::vector<std::shared_ptr<gatehouse::cache::waiter>> waiters;  // under the shard lock
    std::shared_ptr<const outcome> result;                          // set before the waiters are woken
    steady_time started{};                                          // when its call began
};

class decision_cache {
public:
    explicit decision_cache(std::size_t max_entries)
        : per_shard_(std::max<std::size_t>(1, max_entries / k_shards)), generation_(next_generation()) {}

    struct found {
        std::shared_ptr<const outcome> fresh;  // reuse it
        std::shared_ptr<const outcome> stale;  // an allow past its time, usable while the service fails
        steady_time fresh_until{};             // fresh: until when
    };
    // `client_address`: for answers that vary on it (vary_value).
    found find(std::string_view key, std::string_view client_address, steady_time now);
    // Moves `key` to the front of its shard's LRU list, if it is there (a front cache's hits).
    void touch(std::string_view key);
    // Keeps `o` for its ttl (an allow `stale_for` longer, for when the service fails).
    void insert(std::string_view key, std::shared_ptr<const outcome> o, steady_time now, std::chrono::seconds stale_for);

    // Joins the flight of `key` as `w`, or starts one (`leader` true) that `w` waits on too. A
    // flight that began `max_age` or more before `now` is not joined (its call should have ended
    // by its timeout): a fresh one replaces it for the key, the old one's waiters stay with it.
    std::shared_ptr<flight> join(std::string_view key, std::shared_ptr<gatehouse::cache::waiter> w, bool& leader, steady_time now,
                                 std::chrono::steady_clock::duration max_age);
    // The call ended: `result` goes to the flight, which leaves the key, and its waiters are woken.
    void end(std::string_view key, const std::shared_ptr<flight>& f, std::shared_ptr<const outcome> result);
    // A waiter gave up (its deadline).
    void leave(std::string_view key, const std::shared_ptr<flight>& f, const gatehouse::cache::waiter* w);

    std::size_t purge();  // every entry (and a new generation); returns how many went
    // Read before a find whose result is copied into a front cache (never 0).
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    std::size_t size();

    static constexpr std::size_t k_shards = 16;
    static constexpr std::size_t k_max_variants = 16;

private:
    struct variant {
        std::shared_ptr<const outcome> what;
        steady_time fresh_until, usable_until;
    };
    struct node {
        std::string key;
        std::vector<variant> variants;  // all of the same Vary names
    };
    using lru_list = std::list<node>;
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct shard {
        std::mutex mu;
        lru_list lru;  // front: most recently used
        std::unordered_map<std::string_view, lru_list::iterator, string_hash, std::equal_to<>> index;  // views into lru's keys
        std::unordered_map<std::string, std::shared_ptr<flight>, string_hash, std::equal_to<>> flights;
    };
    shard& shard_of(std::string_view key) { return shards_[(std::hash<std::string_view>{}(key) >> 7) % k_shards]; }
    static bool same_vary(const outcome& a, const outcome& b);

    static std::uint64_t next_generation();

    shard shards_[k_shards];
    std::size_t per_shard_;
    std::atomic<std::uint64_t> generation_;
};

}  // namespace gatehouse::middleware::ext_authz
