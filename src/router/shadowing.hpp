#pragma once
// Routes that can never match (`gatehouse check` warns about them): an earlier route of the same
// host group accepts every request the later one could. Decided per matcher: the path (prefix,
// exact, template; a regex only against a fixed path), the methods, the header and query
// matchers. What cannot be decided (a regex against a prefix, say) is never reported.
#include <cstddef>
#include <vector>

#include "gatehouse/config/config.hpp"

namespace gatehouse::router {

struct shadowed_route {
    std::size_t route;  // index in the config
    std::size_t by;     // the earlier route that takes all of its requests
};

std::vector<shadowed_route> find_shadowed_routes(const std::vector<config::route_config>& routes);

// Whether route `a` accepts every request route `b` could (same host assumed).
bool route_covers(const config::match_config& a, const config::match_config& b);

}  // namespace gatehouse::router
