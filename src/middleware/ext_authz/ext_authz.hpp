#pragma once
// ext_authz: each request asks a policy service (an ordinary upstream) whether it may pass, and
// the answers are cached, shared by all workers, with concurrent misses for one question sharing
// one call. Two ways to ask, one machinery: `http` (Envoy's HTTP ext_authz, nginx auth_request,
// Traefik ForwardAuth: the request's method, URI and chosen headers go to the service, a 2xx
// allows) and `oauth2_introspection` (RFC 7662: the bearer token goes to an introspection
// endpoint, `active`, `exp` and `scope` decide).
//
// Here: the settings as the config parser makes them, and the middleware's face to the admin
// API and metrics.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::observability {
class metrics;
}

namespace gatehouse::middleware::ext_authz {

enum class mode { http, oauth2_introspection };

struct cache_settings {
    bool enabled = false;  // a `cache:` entry is configured
    std::chrono::seconds max_ttl{60};
    std::chrono::seconds deny_ttl{5};
    std::chrono::seconds stale_if_error{0};
    std::size_t max_entries = 100000;
};

// send_body: the client's request body goes to the policy service too (Envoy's
// with_request_body): up to `max` bytes; a larger body is a 413, or with allow_partial its first
// `max` bytes are sent (the whole body still goes upstream).
struct body_settings {
    bool enabled = false;
    std::size_t max = 8 * 1024;
    bool allow_partial = false;
};

struct introspection_settings {
    std::string client_id, client_secret;  // HTTP Basic to the endpoint (RFC 7662 §2.1); none when empty
    std::vector<std::string> required_scopes;
    std::vector<std::pair<std::string, std::string>> claims_to_headers;  // claim -> header (lower-case)
};

struct settings {
    mode how = mode::http;
    std::string upstream;                   // the policy service
    std::string path = "/";                 // where on it
    std::vector<std::string> send_headers;  // lower-case; http mode
    body_settings send_body;                // http mode
    std::vector<std::string> upstream_headers, deny_headers;  // lower-case
    std::chrono::milliseconds timeout{200};
    bool allow_on_error = false;
    cache_settings cache;
    introspection_settings introspection;
    std::string owner;  // the route (or listener:NAME): metric label, cache identity
};

// The admin API: POST /ext_authz/purge with {"all": true} or {"route": NAME}; the answer, or
// nullopt with `error` set when the body is neither.
std::optional<nlohmann::json> purge(std::string_view body, std::string& error);
// GET /ext_authz: per route, entries and counters.
nlohmann::json status();
void add_metrics(observability::metrics& m);

}  // namespace gatehouse::middleware::ext_authz
