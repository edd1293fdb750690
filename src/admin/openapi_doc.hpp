#pragma once
// GET /openapi.json on the admin listener: an OpenAPI 3.1 description of what gatehouse serves,
// generated from the route table: a path per route (path templates with their variables as
// parameters), its methods, the security schemes of its authentication middleware, the answers
// gatehouse itself may give (401, 403, 413, 429, 502, 503, 504), and `x-gatehouse-route`.
#include <nlohmann/json.hpp>

#include "gatehouse/config/config.hpp"

namespace gatehouse::admin {

nlohmann::json routes_openapi(const config::gateway_config& cfg);

}  // namespace gatehouse::admin
