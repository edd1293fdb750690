#pragma once
// What every worker must agree on about one upstream (DESIGN §9, "state shared across workers
// has one home per kind"): its circuit breaker, its in-flight counts against upstreams[].limits,
// and each endpoint's health (outlier ejection from real traffic, active health checks, slow
// start). One object per upstream and fault-tolerance settings, kept in a registry so a reload
// that leaves them alone keeps the breaker's state and the ejections. Atomics only on the request
// path; the per-endpoint registry takes its mutex when an endpoint set changes, when an endpoint is
// ejected (rare) and for the admin API.
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "upstream/breaker.hpp"
#include "util/identity_registry.hpp"

namespace gatehouse::upstream {

using steady_time = std::chrono::steady_clock::time_point;

struct endpoint_health {
    explicit endpoint_health(std::string k) : key(std::move(k)) {}
    const std::string key;  // "ip:port"
    std::atomic<std::uint32_t> consecutive_5xx{0};
    std::atomic<std::uint32_t> consecutive_gateway{0};
    std::atomic<std::int64_t> ejected_until_ns{0};  // steady clock; 0 or past: not ejected
    std::atomic<std::uint32_t> ejections{0};        // how often: multiplies the next ejection time
    std::atomic<bool> healthy{true};                // the active checks' verdict (true without them)
    std::atomic<std::int64_t> usable_since_ns{0};   // slow start ramps from here (0: no ramp)
    // The active checker's bookkeeping: control thread only (the admin API runs there too).
    std::uint32_t check_passes = 0, check_fails = 0;
    std::int64_t last_check_ns = 0;
    int last_status = 0;
    std::string last_error;
};

// An attempt's outcome as far as an endpoint's health is concerned.
enum class endpoint_outcome : std::uint8_t { success, status_5xx, gateway_error, neutral };

enum class limit_kind : std::uint8_t { max_connections, max_pending, max_requests, max_retries };
const char* to_string(limit_kind k);

class upstream_health {
public:
    upstream_health(const config::upstream_config& u);

    const std::string& name() const { return name_; }
    circuit_breaker* breaker() { return breaker_ ? &*breaker_ : nullptr; }
    const config::upstream_limits_config& limits() const { return limits_; }
    const std::optional<config::outlier_config>& outlier() const { return outlier_; }
    const std::optional<config::health_check_config>& health_check() const { return health_check_; }
    // Does the balancer need to look at endpoint health at all (outlier detection, active
    // checks or slow start configured)? When not, picking costs nothing more than before.
    bool tracks_endpoints() const { return outlier_ || health_check_ || slow_start_.count() > 0; }
    std::chrono::nanoseconds slow_start() const { return slow_start_; }
    std::uint64_t panic_threshold() const { return panic_threshold_; }

    // In flight, over all workers. try_acquire counts one more unless that passes `limit`
    // (then counts a rejection of `which` and returns false); release counts one less.
    std::atomic<std::int64_t> requests{0}, retries{0}, pending{0}, connections{0};
    bool try_acquire(std::atomic<std::int64_t>& counter, limit_kind which);
    static void release(std::atomic<std::int64_t>& counter) { counter.fetch_sub(1, std::memory_order_relaxed); }
    std::uint64_t limit_rejections(limit_kind k) const { return rejections_[static_cast<std::size_t>(k)].load(std::memory_order_relaxed); }
    void count_rejection(limit_kind k) { rejections_[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed); }

    // The shared health of endpoint `key`, made on first use. `initial`: the endpoint is part of
    // the upstream's first set (it starts at full weight; later arrivals ramp up).
    std::shared_ptr<endpoint_health> endpoint(const std::string& key, bool initial, steady_time now);
    std::vector<std::shared_ptr<endpoint_health>> endpoints();

    // Outlier detection: one attempt's outcome on `e`. True when it ejected `e`.
    bool record(endpoint_health& e, endpoint_outcome o, steady_time now);
    bool usable(const endpoint_health& e, steady_time now) const;
    static bool ejected(const endpoint_health& e, steady_time now);
    // Slow start: the share (0.1 .. 1] of its weight an endpoint gets now.
    double weight_factor(const endpoint_health& e, steady_time now) const;
    // Active checks (control thread): one result; true when the endpoint's verdict changed.
    bool check_result(endpoint_health& e, bool passed, steady_time now);

    // Every try that failed, by kind (gatehouse_upstream_failures_total): tells gatehouse's own
    // 503s (breaker_open, over_limit, ...) from the upstream's answers.
    void count_failure(failure f) { failures_[static_cast<std::size_t>(f)].fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t failures(failure f) const { return failures_[static_cast<std::size_t>(f)].load(std::memory_order_relaxed); }

    enum class ejection_reason : std::uint8_t { consecutive_5xx, consecutive_gateway_errors };
    std::uint64_t ejections(ejection_reason r) const { return ejections_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed); }
    std::uint64_t checks(bool passed) const { return checks_[passed ? 1 : 0].load(std::memory_order_relaxed); }

private:
    bool eject(endpoint_health& e, ejection_reason why, steady_time now);

    std::string name_;
    config::upstream_limits_config limits_;
    std::optional<circuit_breaker> breaker_;
    std::optional<config::outlier_config> outlier_;
    std::optional<config::health_check_config> health_check_;
    std::chrono::nanoseconds slow_start_;
    std::uint64_t panic_threshold_;
    std::array<std::atomic<std::uint64_t>, 4> rejections_{};
    std::array<std::atomic<std::uint64_t>, 2> ejections_{};
    std::array<std::atomic<std::uint64_t>, 2> checks_{};
    std::array<std::atomic<std::uint64_t>, 32> failures_{};
    std::mutex eject_mu_;
    util::identity_registry<endpoint_health> endpoints_;  // by "ip:port"; live while a worker or the checker holds one
};

// The identity of an upstream's fault-tolerance settings: equal strings share one object.
std::string health_identity(const config::upstream_config& u);
// The process-wide object for `u` (control thread, snapshot build).
std::shared_ptr<upstream_health> health_for(const config::upstream_config& u);
// Every live one (metrics, admin).
std::vector<std::shared_ptr<upstream_health>> all_health();

}  // namespace gatehouse::upstream
