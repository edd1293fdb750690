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
#include <nlohmann/json.hpp>

#include "observability/stats.hpp"

namespace gatehouse::observability {
class metrics;
}

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

// GET /rate_limits: every limit (where, rate, burst, key, store, keys tracked, cap hits) and
// every Redis store (mode: shared | fallback); with `key`, that key's state in each limit's
// local table.
nlohmann::json status(std::optional<std::string_view> key);
// gatehouse_rate_limit_* and gatehouse_redis_* families.
void add_metrics(observability::metrics& m);

}  // namespace gatehouse::middleware::rate_limit
