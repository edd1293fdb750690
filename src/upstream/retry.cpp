#include "upstream/retry.hpp"

#include <map>
#include <mutex>

namespace gatehouse::upstream {

std::uint8_t outcome_kind(failure f) {
    switch (f) {
        case failure::connect:
        case failure::tls: return config::outcome_set::connect_failure;
        case failure::write:
        case failure::closed: return config::outcome_set::reset;
        case failure::timeout: return config::outcome_set::timeout;
        case failure::framing: return config::outcome_set::invalid_response;
        default: return 0;
    }
}

bool matches(const config::outcome_set& set, const attempt_outcome& o) {
    if (o.kind == failure::none) return set.has_status(o.status) || set.has_grpc_status(o.grpc_status);
    return (set.kinds & outcome_kind(o.kind)) != 0;
}

endpoint_outcome for_endpoint(const attempt_outcome& o) {
    if (o.kind == failure::none) return o.status >= 500 && o.status <= 599 ? endpoint_outcome::status_5xx : endpoint_outcome::success;
    return outcome_kind(o.kind) ? endpoint_outcome::gateway_error : endpoint_outcome::neutral;
}

std::chrono::nanoseconds backoff(const config::retry_config& r, unsigned retry, std::uint64_t random) {
    auto base = std::chrono::duration_cast<std::chrono::nanoseconds>(r.backoff_base).count();
    auto cap = std::chrono::duration_cast<std::chrono::nanoseconds>(r.backoff_max).count();
    std::int64_t ceiling = base;
    for (unsigned i = 0; i < retry && ceiling < cap; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, cap);
    if (ceiling <= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(random % static_cast<std::uint64_t>(ceiling)));
}

bool within_budget(const config::retry_config& r, std::int64_t retries_in_flight, std::int64_t requests_in_flight) {
    auto allowed = std::max<double>(static_cast<double>(r.min_retry_concurrency), r.budget * static_cast<double>(requests_in_flight));
    return static_cast<double>(retries_in_flight + 1) <= allowed;
}

const char* reason_name(retry_counts::reason r) {
    switch (r) {
        case retry_counts::connect_failure: return "connect_failure";
        case retry_counts::reset: return "reset";
        case retry_counts::timeout: return "timeout";
        case retry_counts::invalid_response: return "invalid_response";
        default: return "status";
    }
}

retry_counts::reason retry_reason(const attempt_outcome& o) {
    switch (outcome_kind(o.kind)) {
        case config::outcome_set::connect_failure: return retry_counts::connect_failure;
        case config::outcome_set::reset: return retry_counts::reset;
        case config::outcome_set::timeout: return retry_counts::timeout;
        case config::outcome_set::invalid_response: return retry_counts::invalid_response;
        default: return retry_counts::status;
    }
}

namespace {
std::mutex g_mu;
std::map<std::string, std::shared_ptr<retry_counts>> g_counts;  // live as long as the process: counters never go back
}  // namespace

std::shared_ptr<retry_counts> retry_counts_for(const std::string& route) {
    std::lock_guard lock(g_mu);
    auto& p = g_counts[route];
    if (!p) p = std::make_shared<retry_counts>();
    return p;
}

std::vector<std::pair<std::string, std::shared_ptr<retry_counts>>> all_retry_counts() {
    std::lock_guard lock(g_mu);
    return {g_counts.begin(), g_counts.end()};
}

}  // namespace gatehouse::upstream
