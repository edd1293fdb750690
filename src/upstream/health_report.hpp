#pragma once
// How the fault-tolerance state shows: the admin API's /upstreams fields and the metric
// families (docs/observability.md). Read on the control thread.
#include <nlohmann/json.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "upstream/cluster.hpp"

namespace gatehouse::observability {
class metrics;
}

namespace gatehouse::upstream {

// The breaker, in-flight counts against the limits, and failure counts of one upstream.
nlohmann::json health_json(upstream_health& h);
// One endpoint's health: usable, ejected (until when), active check verdict, slow start share.
nlohmann::json endpoint_health_json(upstream_health& h, const std::string& endpoint_key);

using current_clusters = std::function<std::vector<std::shared_ptr<const cluster>>()>;
void add_health_metrics(observability::metrics& m, current_clusters clusters);

}  // namespace gatehouse::upstream
