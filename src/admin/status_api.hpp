#pragma once
// GET /stats on the admin listener: the figures the status page shows that no other admin
// endpoint has (request counters by route and status class, connections by listener, certificate
// expiry). Counters, not rates: the page divides the difference between two polls by the time
// between them, so that nothing here keeps history.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/snapshot.hpp"
#include "observability/stats.hpp"
#include "tls/server_context.hpp"

namespace gatehouse::admin {

// A listener as the daemon runs it (the address with the port actually bound).
struct listener_view {
    std::string name;
    config::host_port listen;                              // the port bound, also for a configured port 0
    std::int64_t open = 0;                                 // connections now, over all workers
    const observability::listener_stats* stats = nullptr;  // null: metrics off
    const tls::server_context* tls = nullptr;              // null: plain HTTP
};

// {"requests": n, "responses": {"1xx": .., "5xx": ..}} summed over the workers' shards;
// null without stats (metrics off).
nlohmann::json route_traffic_json(const observability::route_stats* stats);
// One certificate: file, names, not_before/not_after (ISO 8601) and days left at `now`
// (negative once expired).
nlohmann::json certificate_json(const tls::server_context::certificate_info& c, std::string_view owner,
                                std::chrono::system_clock::time_point now);
nlohmann::json stats_to_json(const config::snapshot& snap, const std::vector<listener_view>& listeners,
                             std::chrono::system_clock::time_point now);

}  // namespace gatehouse::admin
