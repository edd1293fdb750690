#pragma once
// The metrics of routes[].compose (docs/observability.md "Composition"): compositions by route
// and outcome (complete, partial, failed), calls by route, call and outcome (ok or the failure's
// reason, a fixed set), and each call's latency. Counters are atomics shared by the workers, one
// object per route and call list (util::identity_registry: a reload that keeps them keeps the
// counts), looked up when a snapshot is built and held by it.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "observability/stats.hpp"

namespace gatehouse::observability {
class metrics;
}

namespace gatehouse::http {

// A call's outcome label: "ok", or why it failed (composition.cpp's reasons); "other" for any
// reason not listed.
inline constexpr std::array<std::string_view, 22> k_call_outcomes{
    "ok",          "connect",     "tls",        "write",     "closed",       "timeout",  "invalid_response", "breaker_open",
    "over_limit",  "pool_full",   "no_endpoint", "no_healthy", "status",      "invalid_json", "too_deep",     "too_large",
    "invalid_body", "reference",  "too_many",   "dependency", "cancelled",   "other"};
std::size_t call_outcome_slot(std::string_view reason);

// How a `cache: true` call's request was served: from a fresh stored answer, by the origin
// (miss), from what a concurrent miss of the same key stored (coalesced), or by a 304 to the
// stale entry's validators (revalidated).
inline constexpr std::array<std::string_view, 4> k_call_cache_results{"hit", "miss", "coalesced", "revalidated"};
enum class call_cache : std::uint8_t { hit, miss, coalesced, revalidated };

struct compose_call_counts {
    std::string name;
    std::array<std::atomic<std::uint64_t>, k_call_outcomes.size()> outcomes{};
    std::array<std::atomic<std::uint64_t>, k_call_cache_results.size()> cache{};
    std::array<std::atomic<std::uint64_t>, observability::k_buckets.size() + 1> latency{};  // non-cumulative; last: +Inf
    std::atomic<std::uint64_t> latency_sum_ns{0};
    void observe(double ms);
};

struct compose_counts {
    std::string route;
    std::atomic<std::uint64_t> complete{0}, partial{0}, failed{0};
    std::deque<compose_call_counts> calls;  // in the route's call order
};

std::shared_ptr<compose_counts> compose_counts_for(const std::string& route, const std::vector<std::string>& calls);

// gatehouse_compose_requests_total, gatehouse_compose_calls_total, gatehouse_compose_call_cache_total,
// gatehouse_compose_call_duration_seconds.
void add_compose_metrics(observability::metrics& m);

}  // namespace gatehouse::http
