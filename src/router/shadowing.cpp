#include "router/shadowing.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <string>

#include "router/path_template.hpp"

namespace gatehouse::router {

namespace {

using seg_kind = config::template_segment::kind;
using segments = std::vector<config::template_segment>;

// The set of paths a route accepts, in a form where "contains" is decidable case by case: no
// path matcher and "/{p=**}" are the prefix "/", a template without variables is an exact path.
struct path_set {
    enum class kind { exact, prefix, regex, templ } what = kind::prefix;
    std::string text;  // exact path, prefix or regex source
    const segments* tmpl = nullptr;
};

path_set path_set_of(const config::match_config& m) {
    switch (m.path_kind) {
        case config::path_match::none: return {path_set::kind::prefix, "/"};
        case config::path_match::exact: return {path_set::kind::exact, m.path};
        case config::path_match::prefix: return {path_set::kind::prefix, m.path};
        case config::path_match::regex: return {path_set::kind::regex, m.path};
        case config::path_match::path_template: break;
    }
    const auto& s = m.segments;
    if (s.size() == 1 && s[0].what == seg_kind::rest) return {path_set::kind::prefix, "/"};
    if (std::all_of(s.begin(), s.end(), [](auto& x) { return x.what == seg_kind::literal; })) {
        std::string p;
        for (auto& x : s) p += '/' + x.text;
        return {path_set::kind::exact, p};
    }
    return {path_set::kind::templ, m.path, &s};
}

// What every path a template accepts starts with: its literal segments up to the first variable.
std::string template_lead(const segments& t) {
    std::string lead;
    for (auto& s : t) {
        if (s.what == seg_kind::rest) break;
        lead += '/';
        if (s.what == seg_kind::variable) break;
        lead += s.text;
    }
    return lead.empty() ? "/" : lead;
}

// Template `t` accepts every path template `u` accepts.
bool template_covers(const segments& t, const segments& u) {
    for (std::size_t i = 0;; ++i) {
        if (i == t.size()) return i == u.size();
        if (t[i].what == seg_kind::rest) return true;
        if (i == u.size() || u[i].what == seg_kind::rest) return false;
        if (t[i].what == seg_kind::literal && (u[i].what != seg_kind::literal || u[i].text != t[i].text)) return false;
        if (t[i].what == seg_kind::variable && u[i].what == seg_kind::literal && u[i].text.empty()) return false;
    }
}

// Template `t` accepts every path that starts with `prefix`: the prefix's whole segments fit,
// and where the prefix ends (mid-segment or after a '/'), `t` takes the rest of the path, or a
// variable takes the started segment and the rest follows.
bool template_covers_prefix(const segments& t, std::string_view prefix) {
    auto is = [&](std::size_t i, seg_kind k) { return i < t.size() && t[i].what == k; };
    std::size_t i = 0, at = 1;
    for (;; ++i) {
        auto slash = prefix.find('/', at);
        if (is(i, seg_kind::rest)) return true;
        if (slash == std::string_view::npos) return at < prefix.size() && is(i, seg_kind::variable) && is(i + 1, seg_kind::rest);
        if (i == t.size()) return false;
        auto seg = prefix.substr(at, slash - at);
        if (t[i].what == seg_kind::literal ? seg != t[i].text : seg.empty()) return false;
        at = slash + 1;
    }
}

bool path_covers(const path_set& a, const path_set& b) {
    using k = path_set::kind;
    switch (a.what) {
        case k::prefix:
            if (b.what == k::templ) return template_lead(*b.tmpl).starts_with(a.text);
            return b.what == k::regex ? a.text == "/" : b.text.starts_with(a.text);
        case k::exact: return b.what == k::exact && b.text == a.text;
        case k::regex: {
            if (b.what != k::exact) return false;
            RE2 re(a.text, RE2::Quiet);
            return re.ok() && RE2::FullMatch(b.text, re);
        }
        case k::templ: {
            path_variables ignored;
            if (b.what == k::exact) return match_path_template(*a.tmpl, b.text, ignored);
            if (b.what == k::prefix) return template_covers_prefix(*a.tmpl, b.text);
            if (b.what == k::templ) return template_covers(*a.tmpl, *b.tmpl);
            return false;  // a regex: undecidable here
        }
    }
    return false;
}

bool methods_cover(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    if (a.empty()) return true;
    if (b.empty()) return false;
    return std::all_of(b.begin(), b.end(), [&](auto& m) { return std::find(a.begin(), a.end(), m) != a.end(); });
}

// Every header `a` requires, `b` requires too (same name, same value).
bool headers_cover(const config::match_config& a, const config::match_config& b) {
    return std::all_of(a.headers.begin(), a.headers.end(),
                       [&](auto& h) { return std::find(b.headers.begin(), b.headers.end(), h) != b.headers.end(); });
}

// Every query parameter `a` requires, `b` requires too (with the value `a` asks for, if any).
bool query_covers(const config::match_config& a, const config::match_config& b) {
    return std::all_of(a.query.begin(), a.query.end(), [&](auto& q) {
        return std::any_of(b.query.begin(), b.query.end(),
                           [&](auto& p) { return p.first == q.first && (!q.second || p.second == q.second); });
    });
}

}  // namespace

bool route_covers(const config::match_config& a, const config::match_config& b) {
    return methods_cover(a.methods, b.methods) && headers_cover(a, b) && query_covers(a, b) && path_covers(path_set_of(a), path_set_of(b));
}

std::vector<shadowed_route> find_shadowed_routes(const std::vector<config::route_config>& routes) {
    std::vector<shadowed_route> out;
    for (std::size_t j = 1; j < routes.size(); ++j)
        for (std::size_t i = 0; i < j; ++i)
            if (routes[i].match.host == routes[j].match.host && route_covers(routes[i].match, routes[j].match)) {
                out.push_back({j, i});
                break;
            }
    return out;
}

}  // namespace gatehouse::router
