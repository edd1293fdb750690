#include "admin/openapi_doc.hpp"

#include <algorithm>

#include "gatehouse/config/middleware_spec.hpp"

namespace gatehouse::admin {
namespace {

using json = nlohmann::json;

constexpr const char* k_methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

// The OpenAPI path of a route's match, and its path parameters. A prefix or a regex has no
// OpenAPI form: the path is the prefix (or "/"), and x-gatehouse-match says what it really is.
std::string route_path(const config::match_config& m, json& parameters) {
    using kind = config::template_segment::kind;
    switch (m.path_kind) {
        case config::path_match::exact: return m.path;
        case config::path_match::prefix: return m.path.starts_with('/') ? m.path : "/" + m.path;
        case config::path_match::path_template: {
            std::string p;
            for (auto& s : m.segments) {
                p += '/';
                if (s.what == kind::literal) {
                    p += s.text;
                    continue;
                }
                p += "{" + s.text + "}";
                json schema = {{"type", "string"}};
                if (s.what == kind::rest) schema["description"] = "the rest of the path (may hold '/')";
                parameters.push_back({{"name", s.text}, {"in", "path"}, {"required", true}, {"schema", schema}});
            }
            return p.empty() ? "/" : p;
        }
        default: return "/";
    }
}

const char* match_kind(config::path_match k) {
    switch (k) {
        case config::path_match::exact: return "path";
        case config::path_match::prefix: return "path_prefix";
        case config::path_match::regex: return "path_regex";
        case config::path_match::path_template: return "path_template";
        default: return "any";
    }
}

json error_response(const char* why) {
    return {{"description", why},
            {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/GatehouseError"}}}}}}}};
}

}  // namespace

json routes_openapi(const config::gateway_config& cfg, const std::vector<std::string>& specs) {
    json paths = json::object();
    json schemes = json::object();
    for (auto& r : cfg.routes) {
        json parameters = json::array();
        std::string path = route_path(r.match, parameters);
        json security = json::array();
        bool rate_limited = false;
        for (auto& m : r.middleware) {
            if (m->type == "jwt") {
                schemes["jwt"] = {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}};
                security.push_back({{"jwt", json::array()}});
            } else if (m->type == "basic_auth") {
                schemes["basic_auth"] = {{"type", "http"}, {"scheme", "basic"}};
                security.push_back({{"basic_auth", json::array()}});
            } else if (m->type == "api_key") {
                schemes["api_key"] = {{"type", "apiKey"}, {"in", "header"}, {"name", "X-Api-Key"},
                                      {"description", "the default source; a route may read the key elsewhere"}};
                security.push_back({{"api_key", json::array()}});
            } else if (m->type == "rate_limit") {
                rate_limited = true;
            }
        }
        json responses = {{"default", {{"description", "the upstream's answer"}}},
                          {"413", error_response("request body too large")},
                          {"502", error_response("the upstream failed")},
                          {"503", error_response("no upstream endpoint available (circuit open, none healthy)")},
                          {"504", error_response("the upstream did not answer in time")}};
        if (!security.empty()) {
            responses["401"] = error_response("missing or invalid credentials");
            responses["403"] = error_response("credentials valid, access refused");
        }
        if (rate_limited) responses["429"] = error_response("rate limit exceeded");
        json op = {{"operationId", r.name}, {"x-gatehouse-route", r.name}, {"responses", responses}};
        if (!parameters.empty()) op["parameters"] = parameters;
        if (!security.empty()) op["security"] = security;
        auto& item = paths[path];
        item["x-gatehouse-match"] = match_kind(r.match.path_kind);
        std::vector<std::string> methods;
        for (auto& m : r.match.methods) {
            std::string lower;
            for (char c : m) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            if (std::find(std::begin(k_methods), std::end(k_methods), lower) != std::end(k_methods)) methods.push_back(lower);
        }
        if (methods.empty()) methods.assign(std::begin(k_methods), std::end(k_methods));
        for (auto& m : methods) {
            if (item.contains(m)) continue;  // an earlier route takes these requests (precedence)
            json o = op;
            if (methods.size() > 1) o["operationId"] = r.name + "." + m;
            item[m] = std::move(o);
        }
    }
    json doc = {{"openapi", "3.1.0"},
                {"info", {{"title", "gatehouse routes"}, {"version", GATEHOUSE_VERSION},
                          {"description", "Generated from the route table (GET /openapi.json on the admin listener)."}}},
                {"paths", paths},
                {"components",
                 {{"schemas",
                   {{"GatehouseError",
                     {{"type", "object"},
                      {"properties", {{"error", {{"type", "string"}}}, {"request_id", {{"type", "string"}}}}}}}}}}}};
    if (!schemes.empty()) doc["components"]["securitySchemes"] = schemes;
    if (!specs.empty()) doc["x-gatehouse-specs"] = specs;
    return doc;
}

}  // namespace gatehouse::admin
