#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http1/head.hpp"
#include "util/text.hpp"

namespace gatehouse::http1 {

namespace {

constexpr bool compute_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '!' || c == '#' || c == '$' || c == '%' ||
           c == '&' || c == '\'' || c == '*' || c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' ||
           c == '~';
}

struct tchar_table {
    bool v[256];
    constexpr tchar_table() : v() {
        for (int c = 0; c < 256; ++c) v[c] = compute_tchar(static_cast<unsigned char>(c));
    }
};
constexpr tchar_table k_tchar;

constexpr bool is_tchar(unsigned char c) { return k_tchar.v[c]; }

// A field name's bytes in one pass: bit 1 = not a tchar, bit 2 = '_' (request names refuse it:
// field_name_problem), bit 4 = an upper-case letter (HTTP/2 names refuse it: valid_h2_request_name).
// ORed over the name instead of two scans (callgrind: ~200 instructions a request).
struct name_class_table {
    unsigned char v[256];
    constexpr name_class_table() : v() {
        for (int c = 0; c < 256; ++c)
            v[c] = static_cast<unsigned char>((compute_tchar(static_cast<unsigned char>(c)) ? 0 : 1) | (c == '_' ? 2 : 0) |
                                              (c >= 'A' && c <= 'Z' ? 4 : 0));
    }
};
constexpr name_class_table k_name_class;
constexpr unsigned char k_not_token = 1, k_underscore = 2, k_upper = 4;

unsigned name_classes(std::string_view name) {
    unsigned bits = 0;
    for (unsigned char c : name) bits |= k_name_class.v[c];
    return bits;
}

// Field-value octets: HTAB, SP, VCHAR, obs-text. No CTLs, no DEL.
constexpr bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

std::string_view trim_ows(std::string_view v) { return util::trim(v); }

// Calls f(token) for each element of a comma-separated list, OWS trimmed, empties skipped.
template <class F>
void for_each_element(std::string_view list, F&& f) {
    while (!list.empty()) {
        auto comma = list.find(',');
        auto el = trim_ows(list.substr(0, comma));
        if (!el.empty()) f(el);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

// Content-Length: 1*DIGIT, or a list of identical ones ("5, 5"). Values across fields must agree.
bool merge_content_length(std::string_view value, bool& seen, std::uint64_t& out) {
    bool ok = true, any = false;
    for_each_element(value, [&](std::string_view el) {
        any = true;
        if (el.size() > 18 || !std::all_of(el.begin(), el.end(), [](unsigned char c) { return c >= '0' && c <= '9'; })) {
            ok = false;
            return;
        }
        std::uint64_t v = 0;
        std::from_chars(el.data(), el.data() + el.size(), v);
        if (seen && v != out) ok = false;
        seen = true;
        out = v;
    });
    return ok && any;
}

}  // namespace

// Host = uri-host [ ":" port ], strictly: reg-name of letters, digits, '-', '.', '_', '~', or an
// IPv6 literal; never '/', '\', '@', '..', spaces, controls or obs-text.
namespace {

#if defined(__SSE2__)
// Where a clean field line ends: the index of the first byte of p[0, n) that no field line may
// hold (a CTL other than HTAB, or DEL; in a clean line, the CR of its CRLF), n when none. colon:
// the first ':' before it, npos when none. Sixteen bytes a step: one pass instead of a memchr
// for the LF, a find for the colon and the value's CTL check.
std::size_t clean_line_end(const char* p, std::size_t n, std::size_t& colon) {
    const __m128i c1f = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f), col = _mm_set1_epi8(':');
    colon = std::string_view::npos;
    // Bits for the 16 bytes at q: stops (bytes no line may hold) and colons.
    auto classify = [&](const char* q, unsigned& stops, unsigned& colons) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        __m128i bad = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);  // <= 0x1f
        bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), bad), _mm_cmpeq_epi8(v, del));
        stops = static_cast<unsigned>(_mm_movemask_epi8(bad));
        colons = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, col)));
    };
    auto found = [&](std::size_t base, unsigned stops, unsigned colons) {
        if (stops != 0) colons &= (1u << __builtin_ctz(stops)) - 1;  // only colons before the stop
        if (colons != 0 && colon == std::string_view::npos) colon = base + static_cast<std::size_t>(__builtin_ctz(colons));
        return stops != 0;
    };
    std::size_t i = 0;
    unsigned stops = 0, colons = 0;
    for (; i + 16 <= n; i += 16) {
        classify(p + i, stops, colons);
        if (found(i, stops, colons)) return i + static_cast<std::size_t>(__builtin_ctz(stops));
    }
    if (i == n) return n;
    if (n >= 16) {  // the tail: the last 16 bytes again, without those already seen
        const std::size_t base = n - 16, seen = i - base;
        classify(p + base, stops, colons);
        stops &= ~((1u << seen) - 1);
        colons &= ~((1u << seen) - 1);
        if (found(base, stops, colons)) return base + static_cast<std::size_t>(__builtin_ctz(stops));
        return n;
    }
    for (; i < n; ++i) {
        const auto c = static_cast<unsigned char>(p[i]);
        if (!is_value_char(c)) return i;
        if (c == ':' && colon == std::string_view::npos) colon = i;
    }
    return n;
}
#endif

struct line_cursor {
    std::string_view rest;
    // The next field line if it is clean: no CTL but HTAB and no DEL before its CRLF (so its
    // value needs no further check), with the index of its first ':' (npos when none). False,
    // and nothing taken, for any other line: next_field_line() and the checks name the fault.
    bool next_clean_field_line(std::string_view& line, std::size_t& colon) {
#if defined(__SSE2__)
        const auto k = clean_line_end(rest.data(), rest.size(), colon);
        if (k + 1 >= rest.size() || rest[k] != '\r' || rest[k + 1] != '\n') return false;
        line = rest.substr(0, k);
        rest.remove_prefix(k + 2);
        return true;
#else
        (void)line;
        (void)colon;
        return false;
#endif
    }
    // Next CRLF-terminated line (without CRLF). Fails on a bare CR or LF anywhere in it.
    bool next(std::string_view& line) {
        auto lf = rest.find('\n');
        if (lf == std::string_view::npos || lf == 0 || rest[lf - 1] != '\r') return false;
        line = rest.substr(0, lf - 1);
        if (line.find('\r') != std::string_view::npos) return false;
        rest.remove_prefix(lf + 1);
        return true;
    }
    // The same without looking for a CR inside the line: for field lines, whose name and value
    // checks refuse a CR anyway (scan_fields then names it; one memchr less per field).
    bool next_field_line(std::string_view& line) {
        auto lf = rest.find('\n');
        if (lf == std::string_view::npos || lf == 0 || rest[lf - 1] != '\r') return false;
        line = rest.substr(0, lf - 1);
        rest.remove_prefix(lf + 1);
        return true;
    }
};

struct field_facts {
    int host_count = 0;
    int te_count = 0;
    bool cl_seen = false;
    bool cl_bad = false;
    std::uint64_t cl = 0;
    std::string_view te;
    std::string_view host;
    std::string_view connection;
    std::string_view expect;
    bool expect_seen = false;
};

// Scans the field lines shared by requests and responses. Returns a status on error.
scan_error scan_fields(line_cursor& cur, std::size_t max_headers, bool request, std::vector<field_view>& fields, field_facts& f) {
    std::string_view line;
    // A bad line that holds a CR is reported as one (its name or value check found it).
    auto bad = [&line](const char* why) -> scan_error {
        return {400, line.find('\r') != std::string_view::npos ? "malformed header line (bare CR or LF)" : why};
    };
    for (;;) {
        std::size_t colon = std::string_view::npos;
        const bool clean = cur.next_clean_field_line(line, colon);
        if (!clean && !cur.next_field_line(line)) return {400, "malformed header line (bare CR or LF)"};
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') return bad("obsolete line folding is not allowed");
        if (!clean) colon = line.find(':');
        if (colon == std::string_view::npos) return bad("header line without a colon");
        auto name = line.substr(0, colon);
        const auto classes = name_classes(name);
        if (name.empty() || (classes & k_not_token)) return bad("invalid header name");
        if (request && (classes & k_underscore)) return {400, "underscores in header names are not allowed"};
        auto raw = line.substr(colon + 1);
        if (!clean && !valid_field_value(raw)) return bad("invalid character in a header value");
        if (fields.size() >= max_headers) return {431, "too many header fields"};
        auto value = trim_ows(raw);
        fields.push_back({{name, value}, std::string_view(line.data(), line.size() + 2)});
        switch (name.size()) {
            case 4:
                if (iequals(name, "host")) {
                    ++f.host_count;
                    f.host = value;
                }
                break;
            case 6:
                if (iequals(name, "expect")) {
                    f.expect_seen = true;
                    f.expect = value;
                }
                break;
            case 10:
                if (iequals(name, "connection")) f.connection = value;
                break;
            case 14:
                if (iequals(name, "content-length") && !merge_content_length(value, f.cl_seen, f.cl)) f.cl_bad = true;
                break;
            case 17:
                if (iequals(name, "transfer-encoding")) {
                    ++f.te_count;
                    f.te = value;
                }
                break;
            default: break;
        }
    }
    return {};
}

// Transfer-Encoding must be exactly "chunked". A well-formed coding list we do not implement is
// 501 (identity, gzip then chunked); anything else is a framing error.
scan_error check_transfer_encoding(std::string_view te) {
    if (iequals(te, "chunked")) return {};
    int elements = 0, chunked = 0;
    bool tokens = true, chunked_last = false;
    for_each_element(te, [&](std::string_view el) {
        ++elements;
        chunked_last = iequals(el, "chunked");
        if (chunked_last) ++chunked;
        if (!is_token(el)) tokens = false;
    });
    if (tokens && elements > 0 && ((chunked == 0 && elements == 1 && iequals(te, "identity")) || (chunked == 1 && chunked_last)))
        return {501, "transfer coding not supported"};
    return {400, "invalid Transfer-Encoding"};
}

}  // namespace

std::size_t find_head_end(std::string_view buf, std::size_t from) {
    from = from >= 3 ? from - 3 : 0;
    const char* d = buf.data();
    const std::size_t n = buf.size();
    if (n < from + 4) return std::string_view::npos;
    // The head ends at the first LF k with "\r" before it and "\r\n" after it. LFs are found
    // eight bytes at a time (a zero-byte test on the word XOR '\n'; its rare false positives are
    // checked like the rest): a third of glibc's memmem on typical heads (callgrind), and the same
    // answer (fuzz_request_head compares them).
    auto ends_here = [&](std::size_t k) { return d[k] == '\n' && k + 2 < n && d[k - 1] == '\r' && d[k + 1] == '\r' && d[k + 2] == '\n'; };
    std::size_t i = from + 1;
#if defined(__SSE2__)
    // Sixteen bytes a step where SSE2 is there (x86-64 always): half the instructions again.
    const __m128i lf = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
        for (auto m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf))); m != 0; m &= m - 1) {
            const std::size_t k = i + static_cast<std::size_t>(__builtin_ctz(m));
            if (ends_here(k)) return k + 3;
        }
    }
#endif
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, d + i, 8);
        const std::uint64_t x = w ^ (ones * '\n');
        for (std::uint64_t m = (x - ones) & ~x & highs; m != 0; m &= m - 1) {
            const std::size_t k = i + (static_cast<std::size_t>(__builtin_ctzll(m)) >> 3);
            if (ends_here(k)) return k + 3;
        }
    }
    for (; i < n; ++i)
        if (ends_here(i)) return i + 3;
    return std::string_view::npos;
}

namespace {

// "METHOD SP target SP HTTP/1.x": method, target and version into `out`.
scan_error scan_request_line(std::string_view line, request_head& out) {
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return {400, "malformed request line"};
    auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return {400, "malformed request line"};
    out.method = line.substr(0, sp1);
    out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto version = line.substr(sp2 + 1);
    if (!is_token(out.method)) return {400, "invalid method"};
    if (version == "HTTP/1.1") out.version = 11;
    else if (version == "HTTP/1.0") out.version = 10;
    else if (version.size() == 8 && version.starts_with("HTTP/") && std::isdigit(static_cast<unsigned char>(version[5])) &&
             version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])))
        return {505, "HTTP version not supported"};
    else return {400, "malformed request line"};
    if (out.target.empty() || !http::valid_target_chars(out.target)) return {400, "invalid request target"};
    return {};
}

// The target's form (origin, asterisk, absolute; RFC 9112 §3.2) into path and query.
scan_error scan_target(const field_facts& f, request_head& out) {
    auto t = out.target;
    if (t.front() == '/') {
        // origin-form
    } else if (t == "*") {
        if (out.method != "OPTIONS") return {400, "asterisk-form is only allowed with OPTIONS"};
        out.asterisk = true;
        return {};
    } else if (out.method == "CONNECT") {
        return {405, "CONNECT is not supported"};
    } else {
        std::size_t scheme_len = 0;
        if (t.size() > 7 && iequals(t.substr(0, 7), "http://")) scheme_len = 7;
        else if (t.size() > 8 && iequals(t.substr(0, 8), "https://")) scheme_len = 8;
        else return {400, "invalid request target"};
        auto rest = t.substr(scheme_len);
        auto slash = rest.find_first_of("/?");
        auto authority = rest.substr(0, slash);
        if (authority.find('@') != std::string_view::npos || !http::valid_host(authority)) return {400, "invalid authority in request target"};
        if (f.host_count == 0 || !iequals(authority, f.host)) return {400, "request target authority does not match Host"};
        t = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
        if (t.front() == '?') return {400, "invalid request target"};
    }
    auto q = t.find('?');
    out.path = t.substr(0, q);
    if (q != std::string_view::npos) {
        out.has_query = true;
        out.query = t.substr(q + 1);
    }
    return {};
}

// Framing (RFC 9112 §6.1-6.3), strictly; then Expect and persistence.
scan_error scan_request_framing(const field_facts& f, request_head& out) {
    if (f.te_count > 1) return {400, "more than one Transfer-Encoding header"};
    if (f.cl_bad) return {400, "invalid Content-Length"};
    if (f.te_count == 1) {
        if (f.cl_seen) return {400, "both Transfer-Encoding and Content-Length"};
        if (out.version == 10) return {400, "Transfer-Encoding on an HTTP/1.0 request"};
        if (auto e = check_transfer_encoding(f.te)) return e;
        out.framing = body_framing::chunked;
    } else if (f.cl_seen) {
        out.content_length = f.cl;
        out.framing = f.cl > 0 ? body_framing::content_length : body_framing::none;
    }
    if (f.expect_seen) {
        if (!iequals(f.expect, "100-continue")) return {417, "unsupported expectation"};
        out.expect_continue = out.version == 11;
    }
    out.connection = f.connection;
    if (out.version == 11) out.keep_alive = !list_contains(f.connection, "close");
    else out.keep_alive = list_contains(f.connection, "keep-alive") && !list_contains(f.connection, "close");
    return {};
}

}  // namespace

scan_error scan_request(std::string_view head, const scan_limits& limits, request_head& out) {
    {
        auto fields = std::move(out.fields);
        fields.clear();
        out = request_head{};
        out.fields = std::move(fields);
    }
    // Request line. Its length is checked first so that a giant target is 414, not 400.
    auto first_lf = head.find('\n');
    if (first_lf == std::string_view::npos) return {400, "malformed request line"};
    if (first_lf > limits.max_request_line) return {414, "request line too long"};
    line_cursor cur{head};
    std::string_view line;
    if (!cur.next(line)) return {400, "malformed request line"};
    if (auto e = scan_request_line(line, out)) return e;

    field_facts f;
    if (auto e = scan_fields(cur, limits.max_headers, true, out.fields, f)) return e;
    if (!cur.rest.empty()) return {400, "data after the end of the head"};

    // Host: exactly one on HTTP/1.1; at most one on 1.0.
    if (f.host_count > 1) return {400, "more than one Host header"};
    if (f.host_count == 0 && out.version == 11) return {400, "missing Host header"};
    if (f.host_count == 1 && !http::valid_host(f.host)) return {400, "invalid Host header"};
    out.host = f.host;
    if (auto e = scan_target(f, out)) return e;
    return scan_request_framing(f, out);
}

scan_error scan_response(std::string_view head, const scan_limits& limits, bool request_method_head, response_head& out) {
    {
        auto fields = std::move(out.fields);
        fields.clear();
        out = response_head{};
        out.fields = std::move(fields);
    }
    line_cursor cur{head};
    std::string_view line;
    if (!cur.next(line)) return {502, "malformed status line"};
    if (line.size() < 12 || !(line.starts_with("HTTP/1.1 ") || line.starts_with("HTTP/1.0 "))) return {502, "malformed status line"};
    out.version = line[7] == '1' ? 11 : 10;
    auto code = line.substr(9, 3);
    if (!std::all_of(code.begin(), code.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }) || code[0] == '0')
        return {502, "malformed status code"};
    out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (line.size() > 12 && line[12] != ' ') return {502, "malformed status line"};
    out.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
    if (!std::all_of(out.reason.begin(), out.reason.end(), [](unsigned char c) { return is_value_char(c); }))
        return {502, "malformed reason phrase"};

    field_facts f;
    if (auto e = scan_fields(cur, limits.max_headers, false, out.fields, f)) return {502, e.reason};
    if (!cur.rest.empty()) return {502, "data after the end of the head"};
    if (f.te_count > 1 || f.cl_bad || (f.te_count == 1 && f.cl_seen)) return {502, "invalid response framing"};
    if (f.te_count == 1 && !iequals(f.te, "chunked")) return {502, "unsupported response transfer coding"};
    out.connection = f.connection;
    out.has_content_length = f.cl_seen;
    if (out.version == 11) out.keep_alive = !list_contains(f.connection, "close");
    else out.keep_alive = list_contains(f.connection, "keep-alive") && !list_contains(f.connection, "close");

    if (request_method_head || out.status < 200 || out.status == 204 || out.status == 304) {
        out.framing = body_framing::none;
        out.content_length = f.cl_seen ? f.cl : 0;
    } else if (f.te_count == 1) {
        out.framing = body_framing::chunked;
    } else if (f.cl_seen) {
        out.framing = body_framing::content_length;
        out.content_length = f.cl;
    } else {
        out.framing = body_framing::until_close;
        out.keep_alive = false;
    }
    return {};
}

}  // namespace gatehouse::http1

// The protocol-neutral field grammar (gatehouse/http/fields.hpp): defined here, beside the
// scanner's tables it shares.
namespace gatehouse::http {

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return http1::is_tchar(c); });
}

const char* field_name_problem(std::string_view name, bool request) {
    const auto classes = http1::name_classes(name);
    if (name.empty() || (classes & http1::k_not_token)) return "not a header name (letters, digits and !#$%&'*+-.^_`|~)";
    if (request && (classes & http1::k_underscore))
        return "underscores in request header names are refused (400) by gatehouse, so this could never match; use '-'";
    return nullptr;
}

bool valid_h2_request_name(std::string_view name) {
    return !name.empty() && (http1::name_classes(name) & (http1::k_not_token | http1::k_underscore | http1::k_upper)) == 0;
}

bool iequals_same_length(const char* a, const char* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x != y && (x | 0x20) != (y | 0x20)) return false;
        if (x != y && !((x | 0x20) >= 'a' && (x | 0x20) <= 'z')) return false;
    }
    return true;
}

connection_names::connection_names(std::string_view connection) : raw_(connection) {
    http1::for_each_element(connection, [&](std::string_view el) {
        if (n_ < std::size(names_)) names_[n_++] = el;
        else overflow_ = true;
    });
}

bool is_hop_by_hop_name(std::string_view n) {
    switch (n.size()) {
        case 2: return iequals(n, "te");
        case 7: return iequals(n, "trailer") || iequals(n, "upgrade");
        case 10: return iequals(n, "connection") || iequals(n, "keep-alive");
        case 16: return iequals(n, "proxy-connection");
        case 17: return iequals(n, "transfer-encoding");
        default: return false;
    }
}

bool is_proxy_owned(std::string_view n) {
    return is_hop_by_hop(n) || (n.size() == 14 && iequals(n, "content-length")) || (n.size() == 4 && iequals(n, "host"));
}

bool list_contains(std::string_view list, std::string_view token) {
    bool found = false;
    http1::for_each_element(list, [&](std::string_view el) { found = found || iequals(el, token); });
    return found;
}

bool is_forbidden_trailer(std::string_view n) {
    static constexpr std::string_view k_forbidden[] = {
        "content-length",   "transfer-encoding", "host",         "connection",    "keep-alive", "te", "trailer", "upgrade",
        "proxy-connection", "content-encoding",  "content-type", "content-range", "expect"};
    for (auto f : k_forbidden)
        if (iequals(n, f)) return true;
    return false;
}

bool is_idempotent(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

std::optional<std::string_view> find_cookie(field_list fields, std::string_view name) {
    for (auto& f : fields) {
        if (!iequals(f.name, "cookie")) continue;
        std::string_view v = f.value;
        while (!v.empty()) {
            auto semi = v.find(';');
            auto pair = v.substr(0, semi);
            while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
            auto eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
            if (semi == std::string_view::npos) break;
            v.remove_prefix(semi + 1);
        }
    }
    return std::nullopt;
}

bool valid_field_value(std::string_view v) {
    // Eight bytes at a time (SWAR): a word with no byte below 0x20 and none equal to 0x7f is
    // fine as it is; only a word that has one (a tab, or a real CTL) is looked at byte by byte.
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    auto bad_byte = [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; };
    std::size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, v.data() + i, 8);
        const std::uint64_t below = (w - ones * 0x20) & ~w & highs;  // a byte < 0x20 (of those < 0x80)
        const std::uint64_t x = w ^ (ones * 0x7f);
        const std::uint64_t del = (x - ones) & ~x & highs;  // a byte == 0x7f
        if ((below | del) == 0) continue;
        for (std::size_t k = i; k < i + 8; ++k)
            if (bad_byte(static_cast<unsigned char>(v[k]))) return false;
    }
    for (; i < v.size(); ++i)
        if (bad_byte(static_cast<unsigned char>(v[i]))) return false;
    return true;
}


bool valid_host(std::string_view h) {
    if (h.empty() || h.size() > 255) return false;
    std::string_view port;
    if (h.front() == '[') {
        auto close = h.find(']');
        if (close == std::string_view::npos) return false;
        auto inner = h.substr(1, close - 1);
        if (inner.empty() ||
            !std::all_of(inner.begin(), inner.end(), [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; }))
            return false;
        auto rest = h.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
        }
    } else {
        // One pass over the name (every request's Host): a table instead of isalnum's call per
        // octet, ".." seen as it passes, the port from the first ':'.
        static constexpr auto k_name_octets = [] {
            std::array<bool, 256> t{};
            for (int c = 0; c < 256; ++c)
                t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                       c == '~';
            return t;
        }();
        std::size_t i = 0;
        unsigned char prev = 0;
        for (; i < h.size() && h[i] != ':'; ++i) {
            const auto c = static_cast<unsigned char>(h[i]);
            if (!k_name_octets[c] || (c == '.' && prev == '.')) return false;
            prev = c;
        }
        if (i == 0) return false;
        if (i < h.size()) {
            port = h.substr(i + 1);
            if (port.empty()) return false;
        }
    }
    if (!port.empty() && (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return c >= '0' && c <= '9'; })))
        return false;
    return true;
}

// Target octets: visible ASCII except '#'; the path syntax proper is checked by normalisation.
bool valid_target_chars(std::string_view t) {
    return std::all_of(t.begin(), t.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f && c != '#'; });
}

}  // namespace gatehouse::http
