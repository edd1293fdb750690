#pragma once
// openapi: validates requests against an OpenAPI 3.0/3.1 description (the top-level `openapi:`
// list names the spec files): the operation, its parameters and its JSON body; an invalid
// request gets a 400 application/problem+json (RFC 9457). docs/middleware.md, "openapi".
#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "gatehouse/config/config.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "openapi/spec.hpp"

namespace gatehouse::observability {
class metrics;
}

namespace gatehouse::middleware::openapi_mw {

// The keywords a rejection is counted by (gatehouse_openapi_rejections_total{route,keyword}):
// a fixed set, so the label is bounded.
inline constexpr std::array<std::string_view, 46> k_keywords = {
    "type", "const", "enum", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "contains", "minContains",
    "maxContains", "maxProperties", "minProperties", "required", "dependentRequired", "propertyNames", "false",
    "anyOf", "oneOf", "not", "depth", "budget", "schema", "unknown", "syntax", "media_type", "operation",
    "unevaluatedProperties", "unevaluatedItems", "additionalProperties", "if", "then", "else", "allOf",
    "dependentSchemas", "prefixItems", "items", "repeated", "max_body", "other"};

struct route_counts {
    std::string route;
    std::array<std::atomic<std::uint64_t>, k_keywords.size()> by_keyword{};  // refused requests
    std::array<std::atomic<std::uint64_t>, k_keywords.size()> responses{};   // response.body: report, enforce
    void count(std::string_view keyword) { bump(by_keyword, keyword); }
    void count_response(std::string_view keyword) { bump(responses, keyword); }

private:
    static void bump(std::array<std::atomic<std::uint64_t>, k_keywords.size()>& a, std::string_view keyword);
};

struct openapi_spec final : config::middleware_spec {
    std::shared_ptr<const gatehouse::openapi::api_spec> api;
    std::string spec_name;  // its openapi: entry
    std::string server_base;
    bool parameters = true, body = true;
    bool reject_unknown_query = false;
    bool report_responses = false;   // response: { body: report } (or enforce)
    bool enforce_responses = false;  // response: { body: enforce }: a 502 instead
    int unmatched = 404;  // 404, 405, or 0: pass
    std::size_t max_body = 1024 * 1024;
    std::size_t max_depth = 64;
    std::size_t max_steps = 100'000;
    std::shared_ptr<route_counts> counts;

    std::shared_ptr<const middleware> build(build_services& services, config::diagnostics& d) const override;
};

void add_metrics(observability::metrics& m);

// The configured specs the routes of `cfg` use, by name (GET /openapi.json?spec=NAME).
std::vector<std::pair<std::string, std::shared_ptr<const gatehouse::openapi::api_spec>>> specs_in_use(
    const config::gateway_config& cfg);

}  // namespace gatehouse::middleware::openapi_mw
