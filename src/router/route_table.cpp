#include "router/route_table.hpp"

#include <re2/re2.h>

#include <algorithm>

#include "router/path_template.hpp"

namespace gatehouse::router {

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::string without_query_params(std::string_view query, const std::vector<std::string>& names) {
    std::string out;
    while (true) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        auto name = pair.substr(0, pair.find('='));
        if (!pair.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
            if (!out.empty()) out += '&';
            out += pair;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

namespace {

// The matchers after the path: methods, headers, query. Inlined in both places: a route without
// a template must not pay a call for the template's sake.
[[gnu::always_inline]] inline bool rest_matches(const config::match_config& m, const request_view& r) {
    if (!m.methods.empty() && std::find(m.methods.begin(), m.methods.end(), r.method) == m.methods.end()) return false;
    for (auto& [name, value] : m.headers) {
        bool found = false;
        for (auto& f : r.headers)
            if (http::iequals(f.name, name) && f.value == value) {
                found = true;
                break;
            }
        if (!found) return false;
    }
    for (auto& [name, value] : m.query) {
        auto v = query_param(r.query, name);
        if (!v || (value && *v != *value)) return false;
    }
    return true;
}

}  // namespace

bool compiled_route::matches(const request_view& r) const {
    const auto& m = config.match;
    switch (m.path_kind) {
        case config::path_match::none: break;
        case config::path_match::exact:
            if (r.path != m.path) return false;
            break;
        case config::path_match::prefix:
            if (!r.path.starts_with(m.path)) return false;
            break;
        case config::path_match::regex:
            if (!RE2::FullMatch(re2::StringPiece(r.path.data(), r.path.size()), *regex)) return false;
            break;
        case config::path_match::path_template: return template_matches(r);
    }
    return rest_matches(m, r);
}

// What a template captured stays only when its route wins: a route after it that does not
// capture must not see this one's variables.
bool compiled_route::template_matches(const request_view& r) const {
    if (!r.vars) {
        path_variables ignored;
        request_view with = r;
        with.vars = &ignored;
        return template_matches(with);
    }
    if (!match_path_template(config.match.segments, r.path, *r.vars)) return false;
    if (rest_matches(config.match, r)) return true;
    r.vars->clear();
    return false;
}

route_table::route_table(const std::vector<config::route_config>& routes) {
    routes_.reserve(routes.size());
    for (std::size_t i = 0; i < routes.size(); ++i) {
        compiled_route c;
        c.config = routes[i];
        c.index = i;
        if (c.config.match.path_kind == config::path_match::regex)
            c.regex = std::make_shared<const re2::RE2>(c.config.match.path, RE2::Quiet);
        routes_.push_back(std::move(c));
    }
    for (std::size_t i = 0; i < routes_.size(); ++i) {
        const auto& host = routes_[i].config.match.host;
        if (!host) {
            any_.routes.push_back(i);
            continue;
        }
        bool wild = host->starts_with("*.");
        auto key = wild ? host->substr(1) : *host;
        auto& groups = wild ? wildcard_ : exact_;
        auto it = std::find_if(groups.begin(), groups.end(), [&](const host_group& g) { return g.host == key; });
        if (it == groups.end()) groups.push_back({key, {i}});
        else it->routes.push_back(i);
    }
    std::sort(exact_.begin(), exact_.end(), [](const host_group& a, const host_group& b) { return a.host < b.host; });
    std::stable_sort(wildcard_.begin(), wildcard_.end(),
                     [](const host_group& a, const host_group& b) { return a.host.size() > b.host.size(); });
}

route_table::~route_table() = default;

const compiled_route* route_table::first_match(const host_group& g, const request_view& r) const {
    for (auto i : g.routes)
        if (routes_[i].matches(r)) return &routes_[i];
    return nullptr;
}

const compiled_route* route_table::match(const request_view& r) const {
    if (!exact_.empty()) {
        auto it = std::lower_bound(exact_.begin(), exact_.end(), r.host,
                                   [](const host_group& g, std::string_view h) { return g.host < h; });
        if (it != exact_.end() && it->host == r.host)
            if (auto* m = first_match(*it, r)) return m;
    }
    for (auto& g : wildcard_)
        if (r.host.size() > g.host.size() && r.host.ends_with(g.host))
            if (auto* m = first_match(g, r)) return m;
    return first_match(any_, r);
}

std::vector<const compiled_route*> route_table::precedence_order() const {
    std::vector<const compiled_route*> out;
    for (auto& g : exact_)
        for (auto i : g.routes) out.push_back(&routes_[i]);
    for (auto& g : wildcard_)
        for (auto i : g.routes) out.push_back(&routes_[i]);
    for (auto i : any_.routes) out.push_back(&routes_[i]);
    return out;
}

}  // namespace gatehouse::router
