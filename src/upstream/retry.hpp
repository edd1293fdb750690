#pragma once
// Policies over the typed errors of an upstream attempt (DESIGN §9): what an attempt's outcome
// is in the terms operators configure (`failure:` of a breaker, `on:` of a retry), whether it
// is a failure for an endpoint's outlier detection, and the retry rules that need no I/O:
// the backoff and the budget. The upstream call (call.cpp) applies them.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "upstream/health.hpp"

namespace gatehouse::upstream {

// One attempt's result: an error before a response head, or the response status (and the gRPC
// status when the head carries one: a Trailers-Only answer).
struct attempt_outcome {
    failure kind = failure::none;
    int status = 0;        // when kind is none
    int grpc_status = -1;  // when kind is none and the head has grpc-status (and a policy asks)
};
// A policy names gRPC statuses, so a try's head is read for one (only then: it costs a scan).
inline bool names_grpc_statuses(const config::outcome_set& set) { return set.grpc_statuses != 0; }

// The outcome_set kind an error belongs to (0 when none: local or the client's).
std::uint8_t outcome_kind(failure f);
bool matches(const config::outcome_set& set, const attempt_outcome& o);
endpoint_outcome for_endpoint(const attempt_outcome& o);

// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in
// [0, min(max, base * 2^retry)), from a uniform 64-bit random number.
std::chrono::nanoseconds backoff(const config::retry_config& r, unsigned retry, std::uint64_t random);
// Retries in flight may be at most budget x requests in flight, but always min_retry_concurrency.
bool within_budget(const config::retry_config& r, std::int64_t retries_in_flight, std::int64_t requests_in_flight);

// A route's retry figures (metrics), kept for the process's life by route name.
struct retry_counts {
    enum reason : std::uint8_t { connect_failure, reset, timeout, invalid_response, status, k_reasons };
    std::array<std::atomic<std::uint64_t>, k_reasons> retries{};
    std::atomic<std::uint64_t> budget_exhausted{0};
};
const char* reason_name(retry_counts::reason r);
retry_counts::reason retry_reason(const attempt_outcome& o);
std::shared_ptr<retry_counts> retry_counts_for(const std::string& route);
std::vector<std::pair<std::string, std::shared_ptr<retry_counts>>> all_retry_counts();

}  // namespace gatehouse::upstream
