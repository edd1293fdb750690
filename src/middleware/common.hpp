#pragma once
// Helpers shared by the middleware config parsers and runtimes.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_reader.hpp"
#include "gatehouse/config/diagnostics.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "util/digest.hpp"

namespace gatehouse::middleware {

// Where a credential is read from, in the configured order.
struct credential_source {
    enum class kind { header, query, cookie, bearer } where = kind::header;
    std::string name;  // header name (lower-case), query parameter or cookie name
};

// Parses `sources: [{ header: X }, { query: q }, { cookie: c }, bearer]`.
std::vector<credential_source> parse_sources(const YAML::Node& n, const std::string& path, config::diagnostics& d);
// Keeps the credential from reaching the upstream: removes each source's header (Authorization
// for bearer) and query parameter. Cookies stay (other cookies share the header).
void hide_credential(request_context& ctx, const std::vector<credential_source>& sources);
// The credential from the first source that has one; `count` is how many sources had one.
std::optional<std::string_view> find_credential(const request_context& ctx, const std::vector<credential_source>& sources,
                                                int* count = nullptr);

// Makes the response vary on `token` (a field name, a literal): merged into a Vary that an
// earlier middleware added or the upstream sent, nothing when it is already there or "*".
void add_vary(response_edit& edit, std::string_view token);

// The route or listener a middleware path belongs to ("routes[2].middleware[0].rate_limit" ->
// the route's name; listeners as "listener:NAME"): metric labels, identities.
std::string owner_of(const std::string& path, const YAML::Node& root);

// The variables of the match.path_template of the route a middleware path belongs to (empty
// when the route has none), for checking {path.NAME} references at load; nullopt when the
// middleware is not on a route (a listener's chain serves routes with different templates).
std::optional<std::vector<std::string>> route_path_variables(const std::string& path, const YAML::Node& root);

using util::sha256_hex;
// A field name middleware settings may use: http::field_name_problem(s, true) finds nothing
// (a token without '_', which requests may not carry through gatehouse).
bool is_header_name(std::string_view s);

// `claims_to_headers: { claim: header-name }` of `r` (jwt, ext_authz's introspection): the pairs,
// header names lower-cased; a diagnostic for a name that is not a header name.
std::vector<std::pair<std::string, std::string>> parse_claims_to_headers(config::map_reader& r);

// Reads a whole file; nullopt (and a diagnostic) when it cannot.
std::optional<std::string> read_text_file(const std::string& path, const std::string& key_path, config::source_mark mark,
                                          config::diagnostics& d);

}  // namespace gatehouse::middleware
