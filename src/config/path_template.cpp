#include "config/path_template.hpp"

#include <algorithm>

#include "gatehouse/router/path_variables.hpp"

namespace gatehouse::config {

namespace {

bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}
bool sub_delim_or_colon_at(unsigned char c) {
    return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' ||
           c == '=' || c == ':' || c == '@';
}
int upper_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Literal path text as the normalised request path has it (router/path.cpp): a literal written
// any other way would never match, so it is refused rather than silently dead.
const char* literal_problem(std::string_view s, bool slashes) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '/' && slashes) continue;
        if (unreserved(c) || sub_delim_or_colon_at(c)) continue;
        if (c != '%') return "may hold only path characters (letters, digits, -._~!$&'()*+,;=:@ and %XX escapes)";
        int hi = i + 2 < s.size() ? upper_hex(s[i + 1]) : -1, lo = i + 2 < s.size() ? upper_hex(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return "a percent-escape is % and two upper-case hex digits, as in the normalised path";
        auto v = static_cast<unsigned char>(hi * 16 + lo);
        if (v == 0 || v == '/' || v == '\\') return "escaped NUL, '/' or '\\' is refused in request paths, so it can never match";
        if (unreserved(v)) return "write escaped letters, digits and -._~ as themselves: the normalised path decodes them";
        i += 2;
    }
    return nullptr;
}

bool valid_name(std::string_view n) {
    if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
    return std::all_of(n.begin(), n.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

// One segment (between slashes) of a template, appended to `out`.
bool parse_segment(std::string_view seg, bool last, std::vector<template_segment>& out, std::string& error) {
    if (seg.empty() && !last) {
        error = "an empty segment ('//'): the normalised path never has one";
        return false;
    }
    if (seg.find_first_of("{}") == std::string_view::npos) {
        if (seg == "." || seg == "..") {
            error = "'.' and '..' segments are removed from the normalised path, so they can never match";
            return false;
        }
        if (auto why = literal_problem(seg, false)) {
            error = "literal segment '" + std::string(seg) + "' " + why;
            return false;
        }
        out.push_back({template_segment::kind::literal, std::string(seg)});
        return true;
    }
    if (seg.front() != '{' || seg.back() != '}' || seg.find_first_of("{}", 1) != seg.size() - 1) {
        error = "'" + std::string(seg) + "': a variable takes a whole segment, {name} or {name=**}";
        return false;
    }
    auto inner = seg.substr(1, seg.size() - 2);
    auto eq = inner.find('=');
    auto name = inner.substr(0, eq);
    if (!valid_name(name)) {
        error = "'" + std::string(seg) + "': a variable name is letters, digits and '_', not starting with a digit";
        return false;
    }
    auto what = template_segment::kind::variable;
    if (eq != std::string_view::npos) {
        if (inner.substr(eq + 1) != "**") {
            error = "'" + std::string(seg) + "': a variable is {name} (one segment) or {name=**} (the rest of the path)";
            return false;
        }
        what = template_segment::kind::rest;
    }
    for (auto& s : out)
        if (s.what != template_segment::kind::literal && s.text == name) {
            error = "variable '" + std::string(name) + "' is defined twice";
            return false;
        }
    out.push_back({what, std::string(name)});
    return true;
}

}  // namespace

std::optional<std::vector<template_segment>> parse_path_template(std::string_view text, std::string& error) {
    if (text.empty() || text.front() != '/') {
        error = "must start with '/'";
        return std::nullopt;
    }
    std::vector<template_segment> out;
    std::size_t variables = 0;
    std::size_t at = 1;
    while (true) {
        auto slash = text.find('/', at);
        bool last = slash == std::string_view::npos;
        auto seg = text.substr(at, last ? std::string_view::npos : slash - at);
        if (!out.empty() && out.back().what == template_segment::kind::rest) {
            error = "{" + out.back().text + "=**} must be the last segment";
            return std::nullopt;
        }
        if (!parse_segment(seg, last, out, error)) return std::nullopt;
        if (out.back().what != template_segment::kind::literal && ++variables > router::k_max_path_variables) {
            error = "more than " + std::to_string(router::k_max_path_variables) + " variables";
            return std::nullopt;
        }
        if (last) break;
        at = slash + 1;
    }
    // "/" is one empty literal segment: the root only, as `path: /` would be.
    return out;
}

std::vector<std::string> template_variables(const std::vector<template_segment>& segments) {
    std::vector<std::string> out;
    for (auto& s : segments)
        if (s.what != template_segment::kind::literal) out.push_back(s.text);
    return out;
}

std::optional<std::string> parse_path_reference(std::string_view text, std::size_t open, const std::vector<std::string>* variables,
                                                std::size_t& end, std::string& error) {
    auto close = text.find('}', open);
    auto inner = text.substr(open + 1, close == std::string_view::npos ? std::string_view::npos : close - open - 1);
    if (close == std::string_view::npos || !inner.starts_with("path.") || !valid_name(inner.substr(5))) {
        error = "'" + std::string(text.substr(open, close == std::string_view::npos ? 24 : close - open + 1)) +
                "': a reference is {path.NAME}, NAME a variable of the route's match.path_template";
        return std::nullopt;
    }
    std::string name(inner.substr(5));
    end = close + 1;
    if (!variables) {
        error = "{path." + name + "}: path variables exist only on a route with match.path_template (configure this on the route)";
        return std::nullopt;
    }
    if (std::find(variables->begin(), variables->end(), name) != variables->end()) return name;
    if (variables->empty()) {
        error = "{path." + name + "}: the route has no match.path_template, so no path variables";
        return std::nullopt;
    }
    error = "{path." + name + "}: the route's match.path_template has no variable '" + name + "'";
    if (auto g = did_you_mean(name, *variables); !g.empty()) error += " (did you mean {path." + g + "}?)";
    return std::nullopt;
}

std::optional<std::vector<template_part>> parse_rewrite_path(std::string_view text, const std::vector<std::string>* variables,
                                                             std::string& error) {
    if (text.empty() || text.front() != '/') {
        error = "must start with '/'";
        return std::nullopt;
    }
    std::vector<template_part> out;
    std::size_t i = 0;
    while (i < text.size()) {
        auto open = text.find_first_of("{}", i);
        auto literal = text.substr(i, open == std::string_view::npos ? std::string_view::npos : open - i);
        if (auto why = literal_problem(literal, true)) {
            error = std::string("the literal text ") + why;
            return std::nullopt;
        }
        if (!literal.empty()) out.push_back({false, std::string(literal)});
        if (open == std::string_view::npos) break;
        if (text[open] == '}') {
            error = "a '}' without its '{'";
            return std::nullopt;
        }
        auto name = parse_path_reference(text, open, variables, i, error);
        if (!name) return std::nullopt;
        out.push_back({true, std::move(*name)});
    }
    return out;
}

}  // namespace gatehouse::config
