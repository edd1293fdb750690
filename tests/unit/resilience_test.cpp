// Fault tolerance without I/O: the circuit breaker's state machine, outlier ejection and its
// cap, slow start, the retry rules (backoff, budget, outcome matching) and their config.
#include <gtest/gtest.h>

#include "gatehouse/config/config.hpp"
#include "upstream/breaker.hpp"
#include "upstream/health.hpp"
#include "upstream/retry.hpp"

using namespace gatehouse;
using namespace std::chrono_literals;
using upstream::breaker_state;
using upstream::circuit_breaker;
using adm = circuit_breaker::admission;

namespace {

circuit_breaker::time_point t0() { return circuit_breaker::time_point(1000s); }

config::breaker_config breaker_cfg() {
    config::breaker_config c;
    c.failure_rate = 0.5;
    c.window = 10s;
    c.min_requests = 4;
    c.open_for = 30s;
    c.half_open_requests = 2;
    return c;
}

config::upstream_config upstream_cfg(const std::string& name) {
    config::upstream_config u;
    u.name = name;
    u.outlier_detection = config::outlier_config{};
    u.outlier_detection->consecutive_5xx = 3;
    u.outlier_detection->consecutive_gateway_errors = 2;
    u.outlier_detection->base_ejection_time = 10s;
    u.outlier_detection->max_ejection_time = 25s;
    u.outlier_detection->max_ejection_percent = 50;
    return u;
}

}  // namespace

TEST(Breaker, OpensAtTheFailureRateOnlyAfterMinRequests) {
    circuit_breaker b(breaker_cfg());
    auto t = t0();
    b.record(t, true, false);
    b.record(t, true, false);
    b.record(t, true, false);  // 3 of 3 failed, but min_requests is 4
    EXPECT_EQ(b.state(), breaker_state::closed);
    b.record(t, false, false);  // 3 of 4 = 75 % >= 50 %: but a success never trips it
    EXPECT_EQ(b.state(), breaker_state::closed);
    b.record(t, true, false);  // 4 of 5
    EXPECT_EQ(b.state(), breaker_state::open);
    EXPECT_EQ(b.admit(t + 1s), adm::reject);
    EXPECT_EQ(b.open_left(t + 10s), std::chrono::nanoseconds(20s));
    EXPECT_EQ(b.transitions(breaker_state::open), 1u);
}

TEST(Breaker, OldOutcomesLeaveTheWindow) {
    circuit_breaker b(breaker_cfg());
    auto t = t0();
    for (int i = 0; i < 3; ++i) b.record(t, true, false);
    for (int i = 0; i < 10; ++i) b.record(t + 11s, false, false);  // the failures are 11 s old now
    b.record(t + 11s, true, false);
    EXPECT_EQ(b.state(), breaker_state::closed);
    auto w = b.window(t + 11s);
    EXPECT_EQ(w.total, 11u);
    EXPECT_EQ(w.failed, 1u);
}

TEST(Breaker, ConsecutiveFailuresTripItAndASuccessResetsTheCount) {
    auto cfg = breaker_cfg();
    cfg.min_requests = 1000;  // the rate rule never fires here
    cfg.consecutive_failures = 3;
    circuit_breaker b(cfg);
    auto t = t0();
    b.record(t, true, false);
    b.record(t, true, false);
    b.record(t, false, false);
    b.record(t, true, false);
    b.record(t, true, false);
    EXPECT_EQ(b.state(), breaker_state::closed);
    b.record(t, true, false);
    EXPECT_EQ(b.state(), breaker_state::open);
}

TEST(Breaker, HalfOpenLetsProbesThroughAndClosesWhenAllPass) {
    circuit_breaker b(breaker_cfg());
    auto t = t0();
    for (int i = 0; i < 4; ++i) b.record(t, true, false);
    ASSERT_EQ(b.state(), breaker_state::open);
    EXPECT_EQ(b.admit(t + 29s), adm::reject);
    EXPECT_EQ(b.admit(t + 30s), adm::probe);
    EXPECT_EQ(b.state(), breaker_state::half_open);
    EXPECT_EQ(b.admit(t + 30s), adm::probe);
    EXPECT_EQ(b.admit(t + 30s), adm::reject);  // two probes at a time
    b.record(t + 31s, false, true);
    EXPECT_EQ(b.state(), breaker_state::half_open);
    b.record(t + 31s, false, true);
    EXPECT_EQ(b.state(), breaker_state::closed);
    EXPECT_EQ(b.admit(t + 31s), adm::pass);
    EXPECT_EQ(b.window(t + 31s).total, 0u);  // closed starts with a clean window
}

TEST(Breaker, AFailedProbeReopensForAnotherFullPeriod) {
    circuit_breaker b(breaker_cfg());
    auto t = t0();
    for (int i = 0; i < 4; ++i) b.record(t, true, false);
    ASSERT_EQ(b.admit(t + 30s), adm::probe);
    b.record(t + 32s, true, true);
    EXPECT_EQ(b.state(), breaker_state::open);
    EXPECT_EQ(b.admit(t + 61s), adm::reject);
    EXPECT_EQ(b.admit(t + 62s), adm::probe);
}

TEST(Breaker, AnAbandonedProbeFreesItsPlace) {
    auto cfg = breaker_cfg();
    cfg.half_open_requests = 1;
    circuit_breaker b(cfg);
    auto t = t0();
    for (int i = 0; i < 4; ++i) b.record(t, true, false);
    ASSERT_EQ(b.admit(t + 30s), adm::probe);
    EXPECT_EQ(b.admit(t + 30s), adm::reject);
    b.abandon_probe();
    EXPECT_EQ(b.admit(t + 30s), adm::probe);
}

TEST(Outlier, ConsecutiveErrorsEjectForAGrowingCappedTime) {
    upstream::upstream_health h(upstream_cfg("ej1"));
    auto t = t0();
    auto a = h.endpoint("10.0.0.1:80", true, t), b = h.endpoint("10.0.0.2:80", true, t), c = h.endpoint("10.0.0.3:80", true, t);
    using o = upstream::endpoint_outcome;
    EXPECT_FALSE(h.record(*a, o::status_5xx, t));
    EXPECT_FALSE(h.record(*a, o::success, t));  // a success resets the run
    EXPECT_FALSE(h.record(*a, o::status_5xx, t));
    EXPECT_FALSE(h.record(*a, o::status_5xx, t));
    EXPECT_TRUE(h.record(*a, o::status_5xx, t));
    EXPECT_FALSE(h.usable(*a, t + 9s));
    EXPECT_TRUE(h.usable(*a, t + 10s));  // base_ejection_time x 1
    EXPECT_TRUE(h.record(*a, o::gateway_error, t + 20s) || h.record(*a, o::gateway_error, t + 20s));
    EXPECT_FALSE(h.usable(*a, t + 39s));  // x 2
    EXPECT_TRUE(h.usable(*a, t + 40s));
    h.record(*a, o::gateway_error, t + 50s);
    h.record(*a, o::gateway_error, t + 50s);
    EXPECT_FALSE(h.usable(*a, t + 74s));  // x 3 = 30 s, capped at 25 s
    EXPECT_TRUE(h.usable(*a, t + 75s));
    EXPECT_EQ(h.ejections(upstream::upstream_health::ejection_reason::consecutive_5xx), 1u);
    EXPECT_EQ(h.ejections(upstream::upstream_health::ejection_reason::consecutive_gateway_errors), 2u);
    (void)b;
    (void)c;
}

TEST(Outlier, MaxEjectionPercentKeepsTheRestIn) {
    upstream::upstream_health h(upstream_cfg("ej2"));
    auto t = t0();
    auto a = h.endpoint("10.0.0.1:80", true, t), b = h.endpoint("10.0.0.2:80", true, t), c = h.endpoint("10.0.0.3:80", true, t);
    using o = upstream::endpoint_outcome;
    for (auto* e : {a.get(), b.get()})
        for (int i = 0; i < 2; ++i) h.record(*e, o::gateway_error, t);
    EXPECT_FALSE(h.usable(*a, t));
    EXPECT_TRUE(h.usable(*b, t)) << "a second of three would pass 50 %";
    EXPECT_TRUE(h.usable(*c, t));
}

TEST(SlowStart, ANewEndpointRampsButTheFirstSetDoesNot) {
    auto u = upstream_cfg("ss");
    u.slow_start = 10s;
    upstream::upstream_health h(u);
    auto t = t0();
    auto first = h.endpoint("10.0.0.1:80", true, t);
    auto later = h.endpoint("10.0.0.2:80", false, t);
    EXPECT_DOUBLE_EQ(h.weight_factor(*first, t), 1.0);
    EXPECT_DOUBLE_EQ(h.weight_factor(*later, t), 0.1);  // the floor
    EXPECT_DOUBLE_EQ(h.weight_factor(*later, t + 5s), 0.5);
    EXPECT_DOUBLE_EQ(h.weight_factor(*later, t + 10s), 1.0);
    // An ejection's end starts a ramp too.
    using o = upstream::endpoint_outcome;
    h.record(*first, o::gateway_error, t + 20s);
    h.record(*first, o::gateway_error, t + 20s);
    EXPECT_DOUBLE_EQ(h.weight_factor(*first, t + 35s), 0.5);
}

TEST(HealthChecks, ThresholdsDecideTransitions) {
    auto u = upstream_cfg("hc");
    u.health_check = config::health_check_config{};
    u.health_check->healthy_threshold = 2;
    u.health_check->unhealthy_threshold = 3;
    upstream::upstream_health h(u);
    auto t = t0();
    auto e = h.endpoint("10.0.0.1:80", true, t);
    EXPECT_FALSE(h.check_result(*e, false, t));
    EXPECT_FALSE(h.check_result(*e, false, t));
    EXPECT_TRUE(h.check_result(*e, false, t));
    EXPECT_FALSE(h.usable(*e, t));
    EXPECT_FALSE(h.check_result(*e, true, t));
    EXPECT_TRUE(h.check_result(*e, true, t));
    EXPECT_TRUE(h.usable(*e, t));
    u.name = "hc2";
    u.health_check->start_unhealthy = true;
    upstream::upstream_health h2(u);
    EXPECT_FALSE(h2.usable(*h2.endpoint("10.0.0.1:80", true, t), t));
}

TEST(Limits, TryAcquireCountsRejections) {
    auto u = upstream_cfg("lim");
    u.limits.max_requests = 2;
    upstream::upstream_health h(u);
    EXPECT_TRUE(h.try_acquire(h.requests, upstream::limit_kind::max_requests));
    EXPECT_TRUE(h.try_acquire(h.requests, upstream::limit_kind::max_requests));
    EXPECT_FALSE(h.try_acquire(h.requests, upstream::limit_kind::max_requests));
    EXPECT_EQ(h.requests.load(), 2);
    EXPECT_EQ(h.limit_rejections(upstream::limit_kind::max_requests), 1u);
    upstream::upstream_health::release(h.requests);
    EXPECT_TRUE(h.try_acquire(h.requests, upstream::limit_kind::max_requests));
}

TEST(Retry, BackoffIsFullJitterUnderAnExponentialCap) {
    config::retry_config r;
    r.backoff_base = 25ms;
    r.backoff_max = 250ms;
    EXPECT_EQ(upstream::backoff(r, 0, 24'999'999), std::chrono::nanoseconds(24'999'999));
    EXPECT_EQ(upstream::backoff(r, 0, 25'000'000), std::chrono::nanoseconds(0));
    EXPECT_EQ(upstream::backoff(r, 2, 99'999'999), std::chrono::nanoseconds(99'999'999));     // 25 ms x 4
    EXPECT_EQ(upstream::backoff(r, 10, 249'999'999), std::chrono::nanoseconds(249'999'999));  // capped
    EXPECT_EQ(upstream::backoff(r, 10, 250'000'000), std::chrono::nanoseconds(0));
}

TEST(Retry, BudgetIsAShareOfRequestsWithAFloor) {
    config::retry_config r;
    r.budget = 0.2;
    r.min_retry_concurrency = 3;
    EXPECT_TRUE(upstream::within_budget(r, 2, 1));    // the floor: 3
    EXPECT_FALSE(upstream::within_budget(r, 3, 10));  // 20 % of 10 is 2, floor 3
    EXPECT_TRUE(upstream::within_budget(r, 19, 100));
    EXPECT_FALSE(upstream::within_budget(r, 20, 100));
}

TEST(Retry, OutcomesMatchKindsAndStatuses) {
    config::outcome_set on;
    on.kinds = config::outcome_set::connect_failure | config::outcome_set::timeout;
    on.statuses.set(503 - 400);
    using upstream::failure;
    EXPECT_TRUE(upstream::matches(on, {failure::connect, 0}));
    EXPECT_TRUE(upstream::matches(on, {failure::tls, 0}));
    EXPECT_FALSE(upstream::matches(on, {failure::closed, 0}));
    EXPECT_TRUE(upstream::matches(on, {failure::none, 503}));
    EXPECT_FALSE(upstream::matches(on, {failure::none, 502}));
    EXPECT_FALSE(upstream::matches(on, {failure::breaker_open, 0}));
    on.any_5xx = true;
    EXPECT_TRUE(upstream::matches(on, {failure::none, 500}));
    EXPECT_EQ(upstream::for_endpoint({failure::none, 502}), upstream::endpoint_outcome::status_5xx);
    EXPECT_EQ(upstream::for_endpoint({failure::timeout, 0}), upstream::endpoint_outcome::gateway_error);
    EXPECT_EQ(upstream::for_endpoint({failure::client_gone, 0}), upstream::endpoint_outcome::neutral);
    EXPECT_EQ(upstream::for_endpoint({failure::none, 404}), upstream::endpoint_outcome::success);
}

namespace {
const char* k_ft = R"(
listeners: [{ name: public, listen: 127.0.0.1:8080 }]
routes:
  - name: users
    upstream: users
    retry:
      attempts: 2
      on: [connect_failure, reset, timeout, 502, 503, 504]
      per_try_timeout: 2s
      backoff: { base: 25ms, max: 250ms }
      budget: 20%
      methods: [GET, HEAD, OPTIONS, PUT, DELETE]
      buffer_body: 64KiB
    fallback:
      respond: { status: 503, body: '{"error":"down"}', content_type: application/json, headers: { Retry-After: "30" } }
upstreams:
  - name: users
    discovery: { static: [127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.1:9003] }
    limits: { max_connections: 1024, max_pending: 1024, max_requests: 1024, max_retries: 3 }
    circuit_breaker:
      failure_rate: 50%
      window: 10s
      min_requests: 20
      consecutive_failures: 0
      open_for: 30s
      half_open_requests: 3
      failure: [connect_failure, timeout, reset, 5xx]
    outlier_detection: { consecutive_5xx: 5, consecutive_gateway_errors: 5, base_ejection_time: 30s, max_ejection_time: 300s, max_ejection_percent: 50 }
    health_check: { path: /healthz, interval: 5s, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 3, expected_status: [200-399], host: users.internal }
    slow_start: 30s
)";
}  // namespace

TEST(ResilienceConfig, TheIssuesShapeLoads) {
    auto r = config::load_string(k_ft, "ft.yaml");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    auto& u = r.config->upstreams[0];
    ASSERT_TRUE(u.circuit_breaker);
    EXPECT_DOUBLE_EQ(u.circuit_breaker->failure_rate, 0.5);
    EXPECT_TRUE(u.circuit_breaker->failure.any_5xx);
    EXPECT_EQ(u.outlier_detection->max_ejection_percent, 50u);
    EXPECT_EQ(u.health_check->expected_status, (std::vector<std::pair<int, int>>{{200, 399}}));
    EXPECT_EQ(u.health_check->host, "users.internal");
    EXPECT_EQ(u.slow_start, 30s);
    auto& rt = r.config->routes[0];
    ASSERT_TRUE(rt.retry);
    EXPECT_EQ(rt.retry->attempts, 2u);
    EXPECT_DOUBLE_EQ(rt.retry->budget, 0.2);
    EXPECT_TRUE(rt.retry->on.has_status(503));
    EXPECT_FALSE(rt.retry->on.has_status(500));
    EXPECT_EQ(rt.retry->per_try_timeout, std::optional<config::duration>(2s));
    ASSERT_TRUE(rt.fallback && rt.fallback->respond);
    EXPECT_EQ(rt.fallback->respond->status, 503);
}

TEST(ResilienceConfig, MistakesNameTheKey) {
    auto bad = [](const std::string& upstream_extra, const std::string& route_extra) {
        std::string y = "listeners: [{ name: p, listen: 127.0.0.1:8080 }]\nroutes:\n  - name: r\n    upstream: u\n" + route_extra +
                        "upstreams:\n  - name: u\n    discovery: { static: [127.0.0.1:1] }\n" + upstream_extra;
        auto r = config::load_string(y, "bad.yaml");
        EXPECT_FALSE(r.config) << y;
        return r.diags.to_string();
    };
    EXPECT_NE(bad("    circuit_breaker: { failure: [conect_failure] }\n", "").find("did you mean 'connect_failure'"), std::string::npos);
    EXPECT_NE(bad("    circuit_breaker: { failure_rate: 150% }\n", "").find("circuit_breaker.failure_rate"), std::string::npos);
    EXPECT_NE(bad("    health_check: { expected_status: [200-99] }\n", "").find("expected_status"), std::string::npos);
    EXPECT_NE(bad("    outlier_detection: { base_ejection_time: 60s, max_ejection_time: 30s }\n", "").find("max_ejection_time"),
              std::string::npos);
    EXPECT_NE(bad("", "    retry: { buffer_body: 1MiB }\n").find("bad.yaml:5"), std::string::npos);
    EXPECT_NE(bad("", "    fallback: { upstream: nope }\n").find("no upstream named 'nope'"), std::string::npos);
    EXPECT_NE(bad("", "    fallback: {}\n").find("exactly one of respond and upstream"), std::string::npos);
    EXPECT_NE(bad("    limits: { max_requets: 5 }\n", "").find("max_requests"), std::string::npos);
}
