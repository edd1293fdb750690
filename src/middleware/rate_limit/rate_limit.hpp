#pragma once
// The rate limiter's state that outlives snapshots: one limit_state per configured limit
// (identity: where it is configured, its name, rate, burst, key and store), found again by a
// reload that leaves the limit alone, so its counts carry on.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "middleware/rate_limit/gcra.hpp"
#include "middleware/rate_limit/local_table.hpp"
#include "observability/stats.hpp"

namespace gatehouse::middleware::rate_limit {

struct limit_state {
    limit_state(std::size_t max_keys, std::size_t workers);
    std::string owner, name, rate, key, store;
    std::int64_t burst = 0;
    gcra_params params;  // nanoseconds
    local_table table;   // the local store, and the fallback of a Redis store
    struct alignas(64) worker_counts {
        std::array<observability::counter, 3> v;  // allowed, limited, fallback
    };
    std::vector<worker_counts> decisions;  // per worker
};

// "100/s" -> {100, 1s}; N/s, N/m, N/h, N/d.
std::optional<std::pair<std::int64_t, std::chrono::seconds>> parse_rate(std::string_view text);

std::vector<std::shared_ptr<limit_state>> all_limits();

}  // namespace gatehouse::middleware::rate_limit
