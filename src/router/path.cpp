#include "gatehouse/router/path.hpp"

#include "util/percent.hpp"
#include "util/text.hpp"

namespace gatehouse::router {

namespace {
bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}
// Nothing to decode, merge or remove: no '%', no "//", no segment starting with '.' (a
// conservative test: "/.well-known" takes the full passes, which leave it as it is). Most
// request paths are like that, and copying them whole is about a tenth of the passes' cost.
bool already_normal(std::string_view raw) {
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '%') return false;
        if (c == '/' && i + 1 < raw.size() && (raw[i + 1] == '/' || raw[i + 1] == '.')) return false;
    }
    return true;
}
}  // namespace

const char* normalize_path(std::string_view raw, std::string& out) {
    out.clear();
    if (raw.empty() || raw.front() != '/') return "path must start with '/'";
    if (already_normal(raw)) {
        out.assign(raw);
        return nullptr;
    }
    // Pass 1: decode unreserved escapes, validate the rest, merge slashes.
    // Pass 2 (in place): remove dot segments. Both are linear.
    for (std::size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '%') {
            if (i + 2 >= raw.size()) return "incomplete percent-escape in path";
            int hi = util::hex_value(raw[i + 1]), lo = util::hex_value(raw[i + 2]);
            if (hi < 0 || lo < 0) return "invalid percent-escape in path";
            auto v = static_cast<unsigned char>(hi * 16 + lo);
            if (v == 0) return "escaped NUL in path";
            if (v == '/' || v == '\\') return "escaped slash or backslash in path";
            i += 2;
            if (unreserved(v)) {
                c = static_cast<char>(v);
            } else {
                static constexpr char digits[] = "0123456789ABCDEF";
                out += '%';
                out += digits[v >> 4];
                out += digits[v & 15];
                continue;
            }
        }
        if (c == '/' && !out.empty() && out.back() == '/') continue;
        out += c;
    }
    // Remove dot segments: the path now has single slashes and starts with '/'.
    std::size_t w = 0;  // write position
    std::size_t r = 0;
    std::string& s = out;
    while (r < s.size()) {
        // s[r] == '/'; the segment is s[r+1 .. next '/').
        std::size_t next = s.find('/', r + 1);
        if (next == std::string::npos) next = s.size();
        std::string_view seg(s.data() + r + 1, next - r - 1);
        bool last = next == s.size();
        if (seg == ".") {
            if (last) s[w++] = '/';
        } else if (seg == "..") {
            while (w > 0 && s[--w] != '/') {}
            if (last) s[w++] = '/';
        } else {
            // memmove-like copy of "/seg"
            for (std::size_t k = r; k < next; ++k) s[w++] = s[k];
        }
        r = next;
    }
    s.resize(w);
    // push_back, not `s = "/"`: GCC 12 at -O3 reports a false -Wrestrict on that assignment
    // (a memcpy it thinks may overlap), which a -Werror build turns into a failure.
    if (s.empty()) s.push_back('/');
    return nullptr;
}

std::string_view normalize_host(std::string_view host, std::string& buf) {
    buf.clear();
    if (!host.empty() && host.front() == '[') {
        auto close = host.find(']');
        host = host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
    } else {
        auto colon = host.find(':');
        if (colon != std::string_view::npos) host = host.substr(0, colon);
    }
    while (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "a.." too: idempotent
    bool needs_copy = false;
    for (char c : host)
        if (c >= 'A' && c <= 'Z') needs_copy = true;
    if (!needs_copy) return host;
    util::append_ascii_lower(buf, host);
    return buf;
}

}  // namespace gatehouse::router
