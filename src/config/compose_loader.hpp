#pragma once
// Parsing of routes[].compose (docs/configuration.md "Composition"): the calls, their templates
// and references, shaping and limits, and the call graph (compose/graph.hpp). Kept apart from
// loader.cpp; every problem is reported at the YAML node that caused it.
#include <memory>
#include <string>
#include <vector>

#include "compose/compose_config.hpp"
#include "yaml_reader.hpp"

namespace gatehouse::config {

// `path_variables`: the names the route's match.path_template defines ({path.NAME}).
std::shared_ptr<const compose::compose_config> read_compose(const YAML::Node& n, const std::string& path, diagnostics& d,
                                                            const std::vector<std::string>& path_variables);

}  // namespace gatehouse::config
