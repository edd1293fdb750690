#pragma once
// Parsing of the fault-tolerance settings (docs/configuration.md, "When a backend fails"):
// upstreams[].limits / circuit_breaker / outlier_detection / health_check / slow_start and
// routes[].retry. Kept apart from loader.cpp, which calls these with its readers.
#include "gatehouse/config/config.hpp"
#include "yaml_reader.hpp"

namespace gatehouse::config {

// Reads the upstream's fault-tolerance keys from its mapping (the caller lists them as known).
void read_upstream_resilience(map_reader& r, upstream_config& u);
std::optional<retry_config> read_retry(const YAML::Node& n, const std::string& path, diagnostics& d);
// "50%", "50" or 0.5 (a fraction only when below 1 and written with a point): 0..1.
std::optional<double> read_share(map_reader& r, const std::string& key);
// connect_failure | reset | timeout | invalid_response | 5xx | a status 400..599, into `out`.
bool read_outcomes(map_reader& r, const std::string& key, outcome_set& out);

}  // namespace gatehouse::config
