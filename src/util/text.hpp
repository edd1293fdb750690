#pragma once
// Small helpers for protocol text (ASCII, no locale): trimming, lower-casing, the host of an
// authority. One copy each, used by config, middleware, cache and the request path.
#include <string>
#include <string_view>

namespace gatehouse::util {

// Without leading and trailing spaces and tabs (HTTP's optional whitespace, RFC 9110 §5.6.3).
constexpr std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// ASCII letters only: field names, hosts and tokens are case-insensitive in ASCII, and
// std::tolower would depend on the process's locale.
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// Appends `s` lower-cased to `out`.
inline void append_ascii_lower(std::string& out, std::string_view s) {
    const auto at = out.size();
    out.append(s);
    for (auto i = at; i < out.size(); ++i) out[i] = ascii_lower(out[i]);
}

inline std::string ascii_lower(std::string_view s) {
    std::string out;
    append_ascii_lower(out, s);
    return out;
}

// "host:port" -> "host", "[v6]:port" -> "[v6]", and an authority without a port as it is: the
// port follows the last ':' after any ']' (an IPv6 literal's own colons are inside brackets).
constexpr std::string_view host_without_port(std::string_view authority) {
    const auto colon = authority.rfind(':');
    const auto bracket = authority.rfind(']');
    if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) return authority;
    return authority.substr(0, colon);
}

}  // namespace gatehouse::util
