#pragma once
// An immutable, fully compiled configuration. Workers hold a shared_ptr<const snapshot>; a
// request keeps the one it started with until it ends (DESIGN.md §3).
#include <functional>
#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "http1/head.hpp"
#include "router/route_table.hpp"
#include "upstream/cluster.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "middleware/registry.hpp"
#include "observability/stats.hpp"

namespace gatehouse::tls {
class server_context;
}

namespace gatehouse::observability {
class metrics;
class access_log;
class tracer;
}  // namespace gatehouse::observability

namespace gatehouse::http {
struct mirror_counts;
struct compose_counts;
}
namespace gatehouse::upstream {
struct retry_counts;
}

namespace gatehouse::config {

using upstream::cluster;

struct snapshot {
    std::uint64_t generation = 0;
    config::gateway_config config;
    std::unique_ptr<router::route_table> routes;
    std::vector<std::shared_ptr<const cluster>> clusters;
    http1::scan_limits scan_limits;

    // Observability, resolved at build time (null when metrics or the access log are off).
    std::vector<std::shared_ptr<observability::route_stats>> route_stats;  // by compiled_route::index
    std::vector<std::shared_ptr<http::mirror_counts>> mirror_counts;       // by compiled_route::index (null: no mirror)
    std::vector<std::shared_ptr<http::compose_counts>> compose_counts;  // by compiled_route::index (null: no compose)
    std::vector<std::shared_ptr<upstream::retry_counts>> retry_counts;     // by compiled_route::index (null: no retry)
    std::shared_ptr<observability::route_stats> unmatched_stats;
    std::vector<std::shared_ptr<observability::upstream_stats>> cluster_stats;  // by cluster index
    std::shared_ptr<observability::access_log> access_log;
    std::shared_ptr<observability::tracer> tracer;  // tracing.otlp: where sampled spans go (null: none)

    // Middleware chains, built from the specs in the config.
    using chain = std::vector<std::shared_ptr<const middleware::middleware>>;
    std::vector<chain> route_chains;                                                  // by compiled_route::index
    std::unordered_map<std::string, chain> listener_chains;                           // by listener name (defaults)
    std::vector<std::string> watched_files;                                           // files middleware and TLS read: changes reload
    std::unordered_map<std::string, std::shared_ptr<const tls::server_context>> tls;  // by listener name
    std::shared_ptr<const tls::server_context> admin_tls;                             // admin.tls
};

// What a snapshot build may draw on besides the config; all optional (`gatehouse check` has none).
struct snapshot_services {
    observability::metrics* metrics = nullptr;
    std::function<std::shared_ptr<observability::access_log>(const config::access_log_config&)> access_log;
    std::function<std::shared_ptr<observability::tracer>(const config::otlp_config&)> tracer;
    middleware::build_services middleware;
};

// Compiles a validated config (control thread; nothing here blocks: endpoints are discovery's).
// Problems (a certificate that does not load) go to `diags`; nullptr then.
std::shared_ptr<const snapshot> build_snapshot(config::gateway_config cfg, std::uint64_t generation, config::diagnostics& diags,
                                               const snapshot_services& services = {});

}  // namespace gatehouse::config
