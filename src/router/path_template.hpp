#pragma once
// Matching a normalised request path against a route's match.path_template (parsed at load by
// config/path_template.cpp): one pass over the path, no allocation, the variables' values as
// views into the path.
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/router/path_variables.hpp"

namespace gatehouse::router {

// Whether `path` fits the template. `out` gets the variables (names from `segments`, values
// into `path`) in template order; it is emptied when the path does not fit.
bool match_path_template(const std::vector<config::template_segment>& segments, std::string_view path, path_variables& out);

}  // namespace gatehouse::router
