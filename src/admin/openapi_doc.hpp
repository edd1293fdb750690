#pragma once
// GET /openapi.json on the admin listener: an OpenAPI 3.1 description of what gatehouse serves,
// generated from the route table: a path per route (path templates with their variables as
// parameters), its methods, the security schemes of its authentication middleware, the answers
// gatehouse itself may give (401, 403, 413, 429, 502, 503, 504), and `x-gatehouse-route`.
#include <nlohmann/json.hpp>

#include "gatehouse/config/config.hpp"

namespace gatehouse::admin {

// `specs`: the names of the configured specs in use, listed as x-gatehouse-specs (each served
// at GET /openapi.json?spec=NAME).
nlohmann::json routes_openapi(const config::gateway_config& cfg, const std::vector<std::string>& specs);

}  // namespace gatehouse::admin
