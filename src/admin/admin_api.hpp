#pragma once
// JSON views of the running configuration for the admin API. Secrets are redacted here, in one
// place: any key named like a secret (key, secret, token, password, ...) is replaced.
#include <nlohmann/json.hpp>

#include "gatehouse/config/config.hpp"
#include "router/route_table.hpp"

namespace gatehouse::admin {

// "host:port", "[v6]:port".
std::string address_text(const config::host_port& hp);
nlohmann::json config_to_json(const config::gateway_config& cfg);
nlohmann::json routes_to_json(const router::route_table& table);
// Replaces the values of secret-looking keys, recursively.
void redact_secrets(nlohmann::json& j);

}  // namespace gatehouse::admin
