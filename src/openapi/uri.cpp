#include "openapi/uri.hpp"

#include <vector>

namespace gatehouse::openapi {
namespace {

struct parts {
    std::string_view scheme, authority, path, query, fragment;
    bool has_scheme = false, has_authority = false, has_query = false, has_fragment = false;
};

parts parse(std::string_view s) {
    parts p;
    if (auto hash = s.find('#'); hash != std::string_view::npos) {
        p.fragment = s.substr(hash + 1);
        p.has_fragment = true;
        s = s.substr(0, hash);
    }
    if (auto q = s.find('?'); q != std::string_view::npos) {
        p.query = s.substr(q + 1);
        p.has_query = true;
        s = s.substr(0, q);
    }
    auto colon = s.find(':');
    auto slash = s.find('/');
    if (colon != std::string_view::npos && colon > 0 && (slash == std::string_view::npos || colon < slash)) {
        p.scheme = s.substr(0, colon);
        p.has_scheme = true;
        s = s.substr(colon + 1);
    }
    if (s.starts_with("//")) {
        s = s.substr(2);
        auto end = s.find('/');
        p.authority = s.substr(0, end);
        p.has_authority = true;
        s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
    }
    p.path = s;
    return p;
}

std::string remove_dot_segments(std::string_view path) {
    std::vector<std::string_view> out;
    bool absolute = path.starts_with('/');
    bool trailing = false;
    std::size_t i = absolute ? 1 : 0;
    while (i <= path.size()) {
        auto end = path.find('/', i);
        if (end == std::string_view::npos) end = path.size();
        auto seg = path.substr(i, end - i);
        trailing = false;
        if (seg == "..") {
            if (!out.empty()) out.pop_back();
            trailing = true;
        } else if (seg == ".") {
            trailing = true;
        } else {
            out.push_back(seg);
        }
        i = end + 1;
    }
    std::string r = absolute ? "/" : "";
    for (std::size_t k = 0; k < out.size(); ++k) {
        if (k) r += '/';
        r += out[k];
    }
    if (trailing && !r.ends_with('/')) r += '/';
    return r;
}

std::string merge(const parts& b, std::string_view ref_path) {
    if (b.has_authority && b.path.empty()) return "/" + std::string(ref_path);
    auto last = b.path.rfind('/');
    if (last == std::string_view::npos) return std::string(ref_path);
    return std::string(b.path.substr(0, last + 1)) + std::string(ref_path);
}

std::string compose(std::string_view scheme, bool has_authority, std::string_view authority, std::string_view path,
                    bool has_query, std::string_view query, bool has_fragment, std::string_view fragment) {
    std::string r;
    if (!scheme.empty()) (r += scheme) += ':';
    if (has_authority) (r += "//") += authority;
    r += path;
    if (has_query) (r += '?') += query;
    if (has_fragment) (r += '#') += fragment;
    return r;
}

}  // namespace

std::string resolve_uri(std::string_view base_text, std::string_view ref_text) {
    auto r = parse(ref_text);
    auto b = parse(base_text);
    if (r.has_scheme)
        return compose(r.scheme, r.has_authority, r.authority, remove_dot_segments(r.path), r.has_query, r.query,
                       r.has_fragment, r.fragment);
    if (r.has_authority)
        return compose(b.scheme, true, r.authority, remove_dot_segments(r.path), r.has_query, r.query, r.has_fragment,
                       r.fragment);
    if (r.path.empty()) {
        return compose(b.scheme, b.has_authority, b.authority, b.path, r.has_query || b.has_query,
                       r.has_query ? r.query : b.query, r.has_fragment, r.fragment);
    }
    std::string path = r.path.starts_with('/') ? remove_dot_segments(r.path) : remove_dot_segments(merge(b, r.path));
    return compose(b.scheme, b.has_authority, b.authority, path, r.has_query, r.query, r.has_fragment, r.fragment);
}

std::pair<std::string_view, std::string_view> split_fragment(std::string_view uri) {
    auto hash = uri.find('#');
    if (hash == std::string_view::npos) return {uri, {}};
    return {uri.substr(0, hash), uri.substr(hash + 1)};
}

std::string escape_pointer_token(std::string_view name) {
    std::string r;
    r.reserve(name.size());
    for (char c : name) {
        if (c == '~')
            r += "~0";
        else if (c == '/')
            r += "~1";
        else
            r += c;
    }
    return r;
}

}  // namespace gatehouse::openapi
