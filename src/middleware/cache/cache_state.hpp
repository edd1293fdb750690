#pragma once
// The cache middleware's settings (cache_config.cpp parses them), per-route counters and
// per-request state (cache.cpp).
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cache/entry.hpp"
#include "cache/key.hpp"
#include "cache/store.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "observability/stats.hpp"

namespace gatehouse::middleware::cache {

using gatehouse::cache::seconds;
using gatehouse::cache::sys_time;

struct cache_spec final : config::middleware_spec {
    std::string owner;  // the route (metric label)
    gatehouse::cache::freshness_settings fresh;
    gatehouse::cache::key_settings key;
    std::chrono::milliseconds lock_timeout{5000};
    bool cache_authorized = false;
    gatehouse::cache::store_settings store_limits;  // from the top-level `cache:` section
    std::size_t workers = 1;
    std::shared_ptr<const middleware> build(build_services& s, config::diagnostics& d) const override;
};

// gatehouse_cache_requests_total{route,result}: per worker, so a request writes its own line.
enum class result : std::uint8_t { hit, miss, stale, revalidated, bypass, coalesced };
inline constexpr std::array<const char*, 6> k_result_names{"hit", "miss", "stale", "revalidated", "bypass", "coalesced"};
struct route_counts {
    std::string route;
    struct alignas(64) shard {
        std::array<observability::counter, k_result_names.size()> v;
    };
    std::vector<shard> shards;
    shard& at(std::size_t worker) { return shards[worker % shards.size()]; }
};
std::shared_ptr<route_counts> route_counts_for(const std::string& route, std::size_t workers);
std::vector<std::shared_ptr<route_counts>> all_route_counts();

// RFC 9211 fwd values: why the request went forward.
enum class forward : std::uint8_t { bypass, method, uri_miss, vary_miss, request, stale };
inline const char* to_string(forward f) {
    switch (f) {
        case forward::bypass: return "bypass";
        case forward::method: return "method";
        case forward::uri_miss: return "uri-miss";
        case forward::vary_miss: return "vary-miss";
        case forward::request: return "request";
        case forward::stale: return "stale";
    }
    return "miss";
}

// The body of a response being stored, taken as it streams to the client; into the store when
// it ends whole and within max_entry_bytes, dropped otherwise. It ends the fill it leads either
// way (the waiters then find the entry, or go to the origin themselves).
class body_store final : public body_tap {
public:
    void begin(std::shared_ptr<gatehouse::cache::entry> draft, std::uint64_t limit, std::shared_ptr<gatehouse::cache::fill> f,
               std::string key);
    void data(std::string_view piece) override;
    void end() override;
    void abandon();
    ~body_store() override { abandon(); }

private:
    void finish();
    std::shared_ptr<gatehouse::cache::entry> draft_;
    std::string body_;
    std::uint64_t limit_ = 0;
    std::shared_ptr<gatehouse::cache::fill> fill_;
    std::string key_;
    bool active_ = false;
};

// What a request that goes to the origin keeps (allocated only then).
struct request_work {
    std::string url, extras, key, host;
    bool secure = false;
    // The request's fields, copied: the Vary values of the response are taken from them after
    // the request's own buffer has moved on.
    std::string field_bytes;
    std::vector<http::field> fields;
    void keep_request_fields(http::field_list f);
    std::shared_ptr<gatehouse::cache::waiter> waiter;
    std::shared_ptr<gatehouse::cache::fill> joined;  // the fill this request waits for
    body_store tap;
};

// request_work objects are kept per worker thread between requests (their strings and vectors
// keep their capacity): a miss allocates nothing for them once a worker has seen a few.
struct recycle_work {
    void operator()(request_work* w) const noexcept;
};
using work_ptr = std::unique_ptr<request_work, recycle_work>;
work_ptr take_work();

struct request_state {
    work_ptr work;
    request_work& work_for() {
        if (!work) work = take_work();
        return *work;
    }
    std::shared_ptr<const gatehouse::cache::entry> entry;  // a stale entry being revalidated
    std::shared_ptr<gatehouse::cache::fill> fill;          // the fill this request leads
    sys_time request_time{};
    std::int64_t age = 0, ttl = 0;
    int fwd_status = 0;
    forward fwd = forward::uri_miss;
    enum result outcome = result::miss;
    bool head = false, authorized = false, no_store = false, invalidate = false;
    bool served = false, collapsed = false, stored = false, stale_if_error = false;
    bool passed = false;  // the key was marked uncacheable: no fill led, no request fields kept
};

}  // namespace gatehouse::middleware::cache
