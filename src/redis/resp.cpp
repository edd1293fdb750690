#include "redis/resp.hpp"

#include <charconv>

namespace gatehouse::redis {

namespace {

constexpr int k_max_depth = 8;                          // our replies nest two deep at most
constexpr std::int64_t k_max_bulk = 512 * 1024 * 1024;  // Redis' own proto-max-bulk-len
constexpr std::int64_t k_max_elements = 1 << 20;

struct cursor {
    std::string_view in;
    std::size_t pos = 0;
};

// One CRLF-terminated line after the type byte; nullopt when it has not fully arrived.
std::optional<std::string_view> line(cursor& c) {
    auto end = c.in.find("\r\n", c.pos);
    if (end == std::string_view::npos) return std::nullopt;
    auto l = c.in.substr(c.pos, end - c.pos);
    c.pos = end + 2;
    return l;
}

bool to_int(std::string_view s, std::int64_t& v) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size();
}

parse_status parse_at(cursor& c, value& out, int depth) {
    if (depth > k_max_depth) return parse_status::bad;
    if (c.pos >= c.in.size()) return parse_status::incomplete;
    char t = c.in[c.pos++];
    auto l = line(c);
    if (!l) return parse_status::incomplete;
    switch (t) {
        case '+':
        case '-':
            out.type = t == '+' ? value::kind::simple : value::kind::error;
            out.text.assign(*l);
            return parse_status::done;
        case ':': out.type = value::kind::integer; return to_int(*l, out.integer) ? parse_status::done : parse_status::bad;
        case '$': {
            std::int64_t n = 0;
            if (!to_int(*l, n) || n < -1 || n > k_max_bulk) return parse_status::bad;
            if (n == -1) {
                out.type = value::kind::null;
                return parse_status::done;
            }
            auto len = static_cast<std::size_t>(n);
            if (c.in.size() - c.pos < len + 2) return parse_status::incomplete;
            if (c.in.substr(c.pos + len, 2) != "\r\n") return parse_status::bad;
            out.type = value::kind::bulk;
            out.text.assign(c.in.substr(c.pos, len));
            c.pos += len + 2;
            return parse_status::done;
        }
        case '*': {
            std::int64_t n = 0;
            if (!to_int(*l, n) || n < -1 || n > k_max_elements) return parse_status::bad;
            if (n == -1) {
                out.type = value::kind::null;
                return parse_status::done;
            }
            // Each element takes at least 3 bytes ("+\r\n"): a count the bytes here cannot hold is
            // incomplete without allocating for it (a 12-byte "*1048576\r\n" would take 100 MiB).
            if (static_cast<std::size_t>(n) > (c.in.size() - c.pos) / 3) return parse_status::incomplete;
            out.type = value::kind::array;
            out.elements.clear();
            out.elements.resize(static_cast<std::size_t>(n));
            for (auto& e : out.elements)
                if (auto st = parse_at(c, e, depth + 1); st != parse_status::done) return st;
            return parse_status::done;
        }
        default: return parse_status::bad;
    }
}

void append_bulk(std::string& out, std::string_view a) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, a.size());
    out += '$';
    out.append(buf, p);
    out += "\r\n";
    out += a;
    out += "\r\n";
}

template <class Range>
void append_all(std::string& out, const Range& args, std::size_t n) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out += '*';
    out.append(buf, p);
    out += "\r\n";
    for (auto& a : args) append_bulk(out, a);
}

}  // namespace

parse_status parse(std::string_view in, value& out, std::size_t& used) {
    cursor c{in, 0};
    auto st = parse_at(c, out, 0);
    used = st == parse_status::done ? c.pos : 0;
    return st;
}

void append_command(std::string& out, std::initializer_list<std::string_view> args) { append_all(out, args, args.size()); }
void append_command(std::string& out, const std::vector<std::string_view>& args) { append_all(out, args, args.size()); }

std::string_view command_name(std::string_view command) {
    // "*<n>\r\n$<len>\r\n<name>\r\n..."
    auto bulk = command.find("\r\n$");
    if (!command.starts_with('*') || bulk == std::string_view::npos) return {};
    auto eol = command.find("\r\n", bulk + 3);
    if (eol == std::string_view::npos) return {};
    std::size_t len = 0;
    for (char c : command.substr(bulk + 3, eol - bulk - 3)) {
        if (c < '0' || c > '9') return {};
        len = len * 10 + static_cast<std::size_t>(c - '0');
    }
    if (eol + 2 + len > command.size()) return {};
    return command.substr(eol + 2, len);
}

}  // namespace gatehouse::redis
