// The ext_authz middleware's config: its settings as the loader checks them (file:line:col and
// a reason for every problem), and the spec that builds the running instance.
#include <yaml-cpp/yaml.h>

#include "gatehouse/http/fields.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "middleware/common.hpp"
#include "middleware/ext_authz/ext_authz.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware::ext_authz {

// ext_authz.cpp
std::shared_ptr<const middleware> make_middleware(const settings& s, std::size_t workers);

namespace {

struct ext_authz_spec final : config::middleware_spec {
    settings s;
    std::shared_ptr<const middleware> build(build_services& services, config::diagnostics&) const override {
        return make_middleware(s, services.workers);
    }
};

// A list of header names, lower-cased.
std::vector<std::string> header_names(config::map_reader& r, const std::string& key) {
    std::vector<std::string> out;
    auto list = r.string_list(key);
    if (!list) return out;
    auto node = r.get(key);
    for (std::size_t i = 0; i < list->size(); ++i) {
        const auto& h = (*list)[i];
        const auto at = r.child_path(key) + "[" + std::to_string(i) + "]";
        if (!is_header_name(h)) r.diags().error(mark(node[i]), at, "not a header name: '" + h + "'");
        else if (http::is_proxy_owned(h)) r.diags().error(mark(node[i]), at, "'" + h + "': framing and connection fields are the proxy's");
        else out.push_back(util::ascii_lower(h));
    }
    return out;
}

std::optional<std::chrono::seconds> whole_seconds(config::map_reader& r, const std::string& key) {
    auto d = r.duration_value(key);
    if (!d) return std::nullopt;
    if (d->count() % 1000 != 0) {
        r.error(key, "expected whole seconds (decisions are kept to the second)");
        return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

void parse_cache(config::map_reader& r, settings& s) {
    config::map_reader c(r.get("cache"), r.child_path("cache"), r.diags(), {"max_ttl", "deny_ttl", "stale_if_error", "max_entries"});
    if (!c.ok()) return;
    s.cache.enabled = true;
    if (auto v = whole_seconds(c, "max_ttl")) s.cache.max_ttl = *v;
    if (auto v = whole_seconds(c, "deny_ttl")) s.cache.deny_ttl = *v;
    if (auto v = whole_seconds(c, "stale_if_error")) s.cache.stale_if_error = *v;
    if (auto m = c.integer("max_entries", 1, 10'000'000)) s.cache.max_entries = static_cast<std::size_t>(*m);
    c.finish();
}

void parse_send_body(config::map_reader& r, settings& s) {
    config::map_reader b(r.get("send_body"), r.child_path("send_body"), r.diags(), {"max", "allow_partial"});
    if (!b.ok()) return;
    s.send_body.enabled = true;
    if (auto v = b.size_value("max")) {
        if (*v == 0 || *v > request_context::k_max_held_body)
            b.error("max", "between 1 and " + std::to_string(request_context::k_max_held_body) + " bytes (the body is held while the service is asked)");
        else s.send_body.max = *v;
    }
    if (auto v = b.boolean("allow_partial")) s.send_body.allow_partial = *v;
    b.finish();
}

void parse_introspection(config::map_reader& r, ext_authz_spec& spec) {
    config::map_reader q(r.get("introspection"), r.child_path("introspection"), r.diags(),
                         {"client_id", "client_secret_file", "required_scopes", "claims_to_headers"});
    if (!q.ok()) return;
    auto& is = spec.s.introspection;
    if (auto id = q.string("client_id")) is.client_id = *id;
    if (auto f = q.string("client_secret_file")) {
        if (is.client_id.empty()) q.error("client_secret_file", "needs client_id");
        if (auto text = read_text_file(*f, q.child_path("client_secret_file"), mark(q.get("client_secret_file")), r.diags())) {
            // The first line, as the admin token file is read: a trailing newline is not part of it.
            is.client_secret = std::string(util::trim(std::string_view(*text).substr(0, text->find_first_of("\r\n"))));
            spec.watched_files.push_back(*f);
        }
    }
    if (auto s = q.string_list("required_scopes")) is.required_scopes = *s;
    is.claims_to_headers = parse_claims_to_headers(q);
    q.finish();
}

// The keys that belong to one mode only.
void check_mode_keys(config::map_reader& r, mode how) {
    if (how == mode::http) {
        if (r.has("introspection")) r.error("introspection", "only with mode: oauth2_introspection");
        return;
    }
    for (const char* k : {"send_headers", "send_body", "upstream_headers", "deny_headers"})
        if (r.has(k)) r.error(k, "not with mode: oauth2_introspection (the token is what is sent; claims_to_headers copies the answer)");
    if (!r.has("introspection")) r.diags().error(mark(r.get("mode")), r.child_path("introspection"), "required with mode: oauth2_introspection");
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node& root) {
    auto spec = std::make_shared<ext_authz_spec>();
    auto& s = spec->s;
    config::map_reader r(n, path, d,
                         {"upstream", "mode", "path", "send_headers", "send_body", "upstream_headers", "deny_headers", "timeout", "on_error",
                          "cache", "introspection"});
    if (!r.ok()) return nullptr;
    if (auto u = r.string("upstream")) {
        s.upstream = *u;
        spec->upstreams.emplace_back(*u, mark(r.get("upstream")));
    } else if (!r.has("upstream")) {
        d.error(mark(n), path + ".upstream", "required: the policy service's upstream");
    }
    if (auto m = r.string("mode")) {
        if (*m == "oauth2_introspection") s.how = mode::oauth2_introspection;
        else if (*m != "http") r.error("mode", "expected http or oauth2_introspection");
    }
    if (auto p = r.string("path")) {
        if (p->empty() || p->front() != '/' || !valid_header_value(*p) || p->find(' ') != std::string::npos)
            r.error("path", "expected an origin-form path starting with '/'");
        else s.path = *p;
    }
    s.send_headers = header_names(r, "send_headers");
    s.upstream_headers = header_names(r, "upstream_headers");
    s.deny_headers = header_names(r, "deny_headers");
    if (auto t = r.duration_value("timeout")) {
        if (t->count() <= 0) r.error("timeout", "must be more than 0");
        else s.timeout = *t;
    }
    if (auto e = r.string("on_error")) {
        if (*e == "allow") s.allow_on_error = true;
        else if (*e != "deny") r.error("on_error", "expected deny (503) or allow");
    }
    if (r.has("cache")) parse_cache(r, s);
    if (r.has("send_body")) parse_send_body(r, s);
    check_mode_keys(r, s.how);
    if (s.how == mode::oauth2_introspection && r.has("introspection")) parse_introspection(r, *spec);
    s.owner = owner_of(path, root);
    r.finish();
    return spec;
}

}  // namespace

void register_ext_authz() { config::register_middleware_type("ext_authz", parse); }

}  // namespace gatehouse::middleware::ext_authz
