#include "middleware/common.hpp"

#include <openssl/evp.h>

#include <algorithm>

#include "config/path_template.hpp"
#include "router/route_table.hpp"
#include "util/read_file.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware {

void add_vary(response_edit& edit, std::string_view token) {
    for (auto& [name, value] : edit.add) {
        if (!http::iequals(name, "vary")) continue;
        if (value != "*" && !http::list_contains(value, token)) value.append(", ").append(token);
        return;
    }
    std::string merged;
    if (!edit.removes("vary"))
        for (auto& f : edit.fields) {
            if (!http::iequals(f.name, "vary") || f.value.empty()) continue;
            if (f.value == "*" || http::list_contains(f.value, token)) return;
            if (!merged.empty()) merged += ", ";
            merged += f.value;
        }
    if (!merged.empty()) edit.remove.push_back("vary");
    if (!merged.empty()) merged += ", ";
    merged += token;
    edit.add.emplace_back("Vary", std::move(merged));
}

bool is_header_name(std::string_view s) { return http::field_name_problem(s, true) == nullptr; }

std::vector<credential_source> parse_sources(const YAML::Node& n, const std::string& path, config::diagnostics& d) {
    std::vector<credential_source> out;
    if (!n.IsSequence()) {
        d.error({n.Mark().line + 1, n.Mark().column + 1}, path,
                "expected a list such as [bearer, { header: X-Token }, { query: token }, { cookie: session }]");
        return out;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
        const auto& e = n[i];
        std::string ep = path + "[" + std::to_string(i) + "]";
        config::source_mark m{e.Mark().line + 1, e.Mark().column + 1};
        if (e.IsScalar() && e.Scalar() == "bearer") {
            out.push_back({credential_source::kind::bearer, "authorization"});
            continue;
        }
        if (!e.IsMap() || e.size() != 1) {
            d.error(m, ep, "expected bearer, { header: NAME }, { query: NAME } or { cookie: NAME }");
            continue;
        }
        auto it = e.begin();
        auto k = it->first.as<std::string>();
        auto v = it->second.IsScalar() ? it->second.Scalar() : std::string();
        if (v.empty()) {
            d.error(m, ep + "." + k, "expected a name");
            continue;
        }
        if (k == "header") {
            if (!is_header_name(v)) d.error(m, ep + ".header", "not a header name: '" + v + "'");
            out.push_back({credential_source::kind::header, util::ascii_lower(v)});
        } else if (k == "query") {
            out.push_back({credential_source::kind::query, v});
        } else if (k == "cookie") {
            out.push_back({credential_source::kind::cookie, v});
        } else {
            d.error(m, ep, "unknown source '" + k + "' (header, query, cookie or bearer)");
        }
    }
    if (out.empty() && n.size() == 0) d.error({n.Mark().line + 1, n.Mark().column + 1}, path, "needs at least one source");
    return out;
}

std::optional<std::string_view> find_credential(const request_context& ctx, const std::vector<credential_source>& sources, int* count) {
    std::optional<std::string_view> first;
    int n = 0;
    for (auto& s : sources) {
        std::optional<std::string_view> v;
        switch (s.where) {
            case credential_source::kind::header: v = ctx.header(s.name); break;
            case credential_source::kind::query: v = router::query_param(ctx.query, s.name); break;
            case credential_source::kind::cookie: v = ctx.cookie(s.name); break;
            case credential_source::kind::bearer:
                if (auto a = ctx.header("authorization"); a && a->size() > 7 && http::iequals(a->substr(0, 7), "bearer ")) {
                    auto t = a->substr(7);
                    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
                    v = t;
                }
                break;
        }
        if (v && !v->empty()) {
            ++n;
            if (!first) first = v;
        }
    }
    if (count) *count = n;
    return first;
}

std::vector<std::pair<std::string, std::string>> parse_claims_to_headers(config::map_reader& r) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!r.has("claims_to_headers")) return out;
    auto c = r.get("claims_to_headers");
    if (!c.IsMap()) {
        r.error("claims_to_headers", "expected a mapping of claim to header name");
        return out;
    }
    for (auto it = c.begin(); it != c.end(); ++it) {
        auto h = it->second.Scalar();
        if (!is_header_name(h))
            r.diags().error(config::mark_of(it->second), r.child_path("claims_to_headers") + "." + it->first.Scalar(), "not a header name");
        else out.emplace_back(it->first.Scalar(), util::ascii_lower(h));
    }
    return out;
}

std::optional<std::string> read_text_file(const std::string& path, const std::string& key_path, config::source_mark mark,
                                          config::diagnostics& d) {
    auto text = util::read_file(path);
    if (!text) d.error(mark, key_path, "cannot read '" + path + "'");
    return text;
}

void hide_credential(request_context& ctx, const std::vector<credential_source>& sources) {
    for (const auto& s : sources) {
        switch (s.where) {
            case credential_source::kind::header: ctx.remove_upstream_header(s.name); break;
            case credential_source::kind::bearer: ctx.remove_upstream_header("authorization"); break;
            case credential_source::kind::query: ctx.remove_upstream_query_param(s.name); break;
            case credential_source::kind::cookie: break;
        }
    }
}

// The route or listener a middleware path belongs to ("routes[2].middleware[0].rate_limit").
std::string owner_of(const std::string& path, const YAML::Node& root) {
    for (const char* section : {"routes", "listeners"}) {
        std::string pre = std::string(section) + "[";
        if (!path.starts_with(pre)) continue;
        auto idx = std::strtoul(path.c_str() + pre.size(), nullptr, 10);
        auto list = root[section];
        if (list.IsSequence() && idx < list.size() && list[idx]["name"])
            return (section[0] == 'l' ? "listener:" : "") + list[idx]["name"].Scalar();
    }
    return path;
}

std::optional<std::vector<std::string>> route_path_variables(const std::string& path, const YAML::Node& root) {
    if (!path.starts_with("routes[")) return std::nullopt;
    auto idx = std::strtoul(path.c_str() + 7, nullptr, 10);
    auto list = root["routes"];
    if (!list.IsSequence() || idx >= list.size()) return std::nullopt;
    auto t = list[idx]["match"]["path_template"];
    if (!t || !t.IsScalar()) return std::vector<std::string>{};
    std::string ignored;  // a bad template is reported by the route loader
    auto segments = config::parse_path_template(t.Scalar(), ignored);
    return segments ? config::template_variables(*segments) : std::vector<std::string>{};
}

}  // namespace gatehouse::middleware
