#include "admin/admin_api.hpp"

#include <algorithm>

#include "compose/compose_config.hpp"
#include "compose/graph.hpp"
#include "util/text.hpp"

namespace gatehouse::admin {

using nlohmann::json;

namespace {

const char* lb_name(config::lb_policy p) {
    switch (p) {
        case config::lb_policy::round_robin: return "round_robin";
        case config::lb_policy::weighted: return "weighted";
        case config::lb_policy::random: return "random";
        case config::lb_policy::least_request: return "least_request";
        case config::lb_policy::ring_hash: return "ring_hash";
        case config::lb_policy::peak_ewma: return "peak_ewma";
    }
    return "?";
}

json match_json(const config::match_config& m) {
    json j = json::object();
    if (m.host) j["host"] = *m.host;
    switch (m.path_kind) {
        case config::path_match::exact: j["path"] = m.path; break;
        case config::path_match::prefix: j["path_prefix"] = m.path; break;
        case config::path_match::regex: j["path_regex"] = m.path; break;
        case config::path_match::path_template: j["path_template"] = m.path; break;
        case config::path_match::none: break;
    }
    if (!m.methods.empty()) j["methods"] = m.methods;
    if (!m.headers.empty()) {
        json h = json::object();
        for (auto& [k, v] : m.headers) h[k] = v;
        j["headers"] = h;
    }
    if (!m.query.empty()) {
        json q = json::object();
        for (auto& [k, v] : m.query) q[k] = v ? json(*v) : json(nullptr);
        j["query"] = q;
    }
    return j;
}

// A composition's calls and its call graph: each call with what it waits for, and the stages
// (calls in one stage start together once the stages before it answered).
json compose_json(const compose::compose_config& cc) {
    json calls = json::array();
    std::vector<std::size_t> stage(cc.calls.size(), 0);
    for (auto i : compose::run_order(cc.calls))
        for (auto j : cc.calls[i].after) stage[i] = std::max(stage[i], stage[j] + 1);
    for (std::size_t i = 0; i < cc.calls.size(); ++i) {
        const auto& c = cc.calls[i];
        json after = json::array();
        for (auto j : c.after) after.push_back(cc.calls[j].name);
        json cj{{"name", c.name}, {"upstream", c.upstream}, {"method", c.method}, {"path", c.path_text},
                {"required", c.required}, {"after", after}, {"stage", stage[i]}};
        if (!c.into.empty()) cj["into"] = c.into;
        if (c.foreach) cj["foreach"] = {{"max", c.foreach->max}, {"concurrency", c.foreach->concurrency}};
        calls.push_back(std::move(cj));
    }
    return {{"calls", calls}, {"max_body", cc.max_body}, {"errors", cc.errors_summary ? "summary" : "none"}};
}

json route_json(const config::route_config& r) {
    json j{{"name", r.name}, {"match", match_json(r.match)}};
    if (!r.upstream.empty()) j["upstream"] = r.upstream;
    if (r.rewrite) {
        json rw = json::object();
        if (r.rewrite->strip_prefix) rw["strip_prefix"] = *r.rewrite->strip_prefix;
        if (r.rewrite->replace_prefix) rw["replace_prefix"] = *r.rewrite->replace_prefix;
        if (r.rewrite->path) rw["path"] = *r.rewrite->path;
        if (r.rewrite->host) rw["host"] = *r.rewrite->host;
        j["rewrite"] = rw;
    }
    if (r.respond) {
        json h = json::object();
        for (auto& [k, v] : r.respond->headers) h[k] = v;
        j["respond"] = {{"status", r.respond->status},
                        {"body", r.respond->body},
                        {"content_type", r.respond->content_type},
                        {"headers", h}};
    }
    if (r.redirect) {
        json rd{{"status", r.redirect->status}, {"strip_query", r.redirect->strip_query}};
        if (r.redirect->scheme) rd["scheme"] = *r.redirect->scheme;
        if (r.redirect->host) rd["host"] = *r.redirect->host;
        if (r.redirect->port) rd["port"] = *r.redirect->port;
        if (r.redirect->path) rd["path"] = *r.redirect->path;
        j["redirect"] = rd;
    }
    if (r.compose) j["compose"] = compose_json(*r.compose);
    if (r.timeout) j["timeout"] = config::format_duration(*r.timeout);
    return j;
}

bool secret_key(const std::string& k) {
    static const char* names[] = {"key", "secret", "token", "password", "passwd", "credential", "private"};
    const std::string lower = util::ascii_lower(k);
    return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return lower.find(n) != std::string::npos; });
}

}  // namespace

std::string address_text(const config::host_port& hp) {
    bool v6 = hp.host.find(':') != std::string::npos;
    return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

void redact_secrets(json& j) {
    if (j.is_object()) {
        for (auto& [k, v] : j.items()) {
            if (secret_key(k) && (v.is_string() || v.is_array())) v = "<redacted>";
            else redact_secrets(v);
        }
    } else if (j.is_array()) {
        for (auto& v : j) redact_secrets(v);
    }
}

json config_to_json(const config::gateway_config& c) {
    json j;
    j["workers"] = c.workers ? json(c.workers) : json("auto");
    j["admin"] = {{"listen", address_text(c.admin.listen)},
                  {"enabled", c.admin.enabled},
                  {"auth", c.admin.auth ? "bearer" : "none"},
                  {"tls", c.admin.tls.has_value()}};
    if (c.probes) j["probes"] = {{"listen", address_text(c.probes->listen)}};
    j["reload"] = {{"watch", c.reload.watch}, {"debounce", config::format_duration(c.reload.debounce)}};
    j["event_loop"] = {{"batch_wait", std::to_string(c.event_loop.batch_wait.count()) + "us"}};
    json ls = json::array();
    for (auto& l : c.listeners) {
        json tp = json::array();
        for (auto& t : l.trusted_proxies) tp.push_back(t.base.to_string() + "/" + std::to_string(t.prefix_len));
        ls.push_back({{"name", l.name}, {"listen", address_text(l.listen)}, {"trusted_proxies", tp}});
    }
    j["listeners"] = ls;
    auto& lim = c.limits;
    j["limits"] = {{"max_header_bytes", lim.max_header_bytes},
                   {"max_memory", lim.max_memory},
                   {"max_headers", lim.max_headers},
                   {"max_request_line", lim.max_request_line},
                   {"max_body_bytes", lim.max_body_bytes},
                   {"header_timeout", config::format_duration(lim.header_timeout)},
                   {"body_timeout", config::format_duration(lim.body_timeout)},
                   {"idle_timeout", config::format_duration(lim.idle_timeout)},
                   {"request_timeout", config::format_duration(lim.request_timeout)}};
    j["drain"] = {{"delay", config::format_duration(c.drain.delay)}, {"timeout", config::format_duration(c.drain.timeout)}};
    json rs = json::array();
    for (auto& r : c.routes) rs.push_back(route_json(r));
    j["routes"] = rs;
    json us = json::array();
    for (auto& u : c.upstreams) {
        json lb{{"policy", lb_name(u.load_balancer.policy)}};
        if (u.load_balancer.policy == config::lb_policy::ring_hash)
            lb["hash_on"] = u.load_balancer.hash_on == config::lb_config::hash_source::client_ip
                                ? json("client_ip")
                                : json{{"header", u.load_balancer.hash_header}};
        us.push_back({{"name", u.name},
                      {"discovery",
                       {{"type", u.discovery ? u.discovery->type : ""},
                        {"source", u.discovery ? u.discovery->describe : ""},
                        {"wait_for_first", u.wait_for_first},
                        {"first_timeout", config::format_duration(u.first_timeout)}}},
                      {"load_balancer", lb},
                      {"pool",
                       {{"max_connections", u.pool.max_connections},
                        {"idle_timeout", config::format_duration(u.pool.idle_timeout)},
                        {"connect_timeout", config::format_duration(u.pool.connect_timeout)}}}});
    }
    j["upstreams"] = us;
    redact_secrets(j);
    return j;
}

json routes_to_json(const router::route_table& table) {
    json out = json::array();
    int position = 0;
    for (auto* r : table.precedence_order()) {
        json j = route_json(r->config);
        j["precedence"] = position++;
        out.push_back(j);
    }
    return out;
}

}  // namespace gatehouse::admin
