#include "middleware/ext_authz/check_request.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

#include "cache/policy.hpp"
#include "util/base64.hpp"
#include "util/digest.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware::ext_authz {

namespace {

using std::chrono::seconds;

std::string_view scheme_of(const request_context& ctx) { return ctx.secure ? "https" : "http"; }

// Each value of a field the client sent, in order.
template <class F>
void each_value(const request_context& ctx, std::string_view name, F&& f) {
    for (auto& fl : ctx.fields)
        if (http::iequals(fl.name, name)) f(fl.value);
}

// The key is a list of pieces, each framed by its length (4 bytes as they are in memory: the
// key never leaves the process), so no two different lists give the same key (with send_headers
// [x, x1], "x" + "1..." and "x1" + "..." must differ). http mode: the method, path, query, host
// and scheme, then each listed header's name and value, once per value; introspection: "T"
// and the token. `f` is called with each piece in order.
template <class F>
void each_key_piece(const request_context& ctx, const settings& s, std::string_view token, F&& f) {
    if (s.how == mode::oauth2_introspection) {
        f(std::string_view("T"));
        f(token);
        return;
    }
    for (auto piece : {ctx.method, ctx.path, ctx.query, ctx.host, scheme_of(ctx)}) f(piece);
    for (auto& name : s.send_headers)
        each_value(ctx, name, [&](std::string_view v) {
            f(std::string_view(name));
            f(v);
        });
}

char* write_piece(char* p, std::string_view piece) {
    const auto n = static_cast<std::uint32_t>(piece.size());
    std::memcpy(p, &n, 4);
    if (n) std::memcpy(p + 4, piece.data(), n);
    return p + 4 + n;
}

void append_piece(std::string& out, std::string_view piece) {
    const auto at = out.size();
    out.resize(at + 4 + piece.size());
    write_piece(out.data() + at, piece);
}

// One 64-bit word of the key's hash (key_hash): a multiply and a shift per 8 bytes.
std::uint64_t mix(std::uint64_t h, std::uint64_t x) {
    h = (h ^ x) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

[[gnu::always_inline]] inline std::uint64_t load64(const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
}
[[gnu::always_inline]] inline std::uint32_t load32(const char* p) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    return w;
}

// The last word of a piece for the hash, without a loop over its bytes: pieces of 8 or more
// bytes end with their last 8 (overlapping the words before), shorter ones take their first and
// last 4 bytes, or up to three single bytes.
[[gnu::always_inline]] inline std::uint64_t tail_word(const char* p, std::size_t n) {
    if (n >= 8) return load64(p + n - 8);
    if (n >= 4) return (std::uint64_t(load32(p)) << 32) | load32(p + n - 4);
    if (n == 0) return 0;
    const auto byte = [&](std::size_t i) { return std::uint64_t(static_cast<unsigned char>(p[i])); };
    return (byte(0) << 16) | (byte(n / 2) << 8) | byte(n - 1);
}

// The same `n` bytes at `a` and `b` (the key's pieces are short: word compares, no call).
[[gnu::always_inline]] inline bool same_bytes(const char* a, const char* b, std::size_t n) {
    if (n > 32) return std::memcmp(a, b, n) == 0;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        if (load64(a + i) != load64(b + i)) return false;
    return i == n || tail_word(a, n) == tail_word(b, n);
}

void append_uri(std::string& out, const request_context& ctx) {
    out.append(ctx.path);
    if (!ctx.query.empty()) out.append("?").append(ctx.query);
}

outcome error_outcome() { return {}; }

// The answer's fields named in `names`, with values gatehouse may send.
std::vector<std::pair<std::string, std::string>> copy_fields(const upstream_answer& a, const std::vector<std::string>& names) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [n, v] : a.fields)
        for (auto& want : names)
            if (http::iequals(n, want) && valid_header_value(v)) out.emplace_back(want, v);
    return out;
}

// The answer's Vary names (lower-case); false for Vary: *.
bool vary_names(const upstream_answer& a, std::vector<std::string>& out) {
    for (auto& [n, v] : a.fields) {
        if (!http::iequals(n, "vary")) continue;
        std::string_view rest = v;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            auto token = util::trim(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (token.empty()) continue;
            if (token == "*") return false;
            auto lower = util::ascii_lower(token);
            if (std::find(out.begin(), out.end(), lower) == out.end()) out.push_back(std::move(lower));
        }
    }
    return true;
}

outcome decide_http(const upstream_answer& a, const settings& s) {
    outcome o;
    if (a.status >= 200 && a.status < 300) {
        o.result = outcome::kind::allow;
        o.headers = copy_fields(a, s.upstream_headers);
    } else if (a.status >= 400 && a.status < 500) {
        o.result = outcome::kind::deny;
        o.status = a.status;
        o.headers = copy_fields(a, s.deny_headers);
    } else {
        return error_outcome();  // 1xx, 3xx, 5xx: the service could not say
    }
    if (!s.cache.enabled) return o;
    std::vector<std::string> names;
    if (!vary_names(a, names)) return o;  // Vary: * is never reused
    o.ttl = answer_ttl(a, o.result == outcome::kind::allow, s.cache);
    for (auto& n : names) o.vary.emplace_back(std::move(n), std::string());
    return o;
}

// The space-separated scopes of an introspection answer hold every one required.
bool has_scopes(std::string_view granted, const std::vector<std::string>& required) {
    for (auto& r : required) {
        bool found = false;
        std::string_view rest = granted;
        while (!rest.empty() && !found) {
            auto sp = rest.find(' ');
            found = rest.substr(0, sp) == r;
            rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        }
        if (!found) return false;
    }
    return true;
}

std::string claim_text(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (auto& e : v) out += (out.empty() ? "" : " ") + claim_text(e);
        return out;
    }
    return v.dump();
}

outcome introspection_deny(int status, std::string www_authenticate, const settings& s, seconds until_exp) {
    outcome o;
    o.result = outcome::kind::deny;
    o.status = status;
    o.headers.emplace_back("www-authenticate", std::move(www_authenticate));
    if (s.cache.enabled) o.ttl = std::min(s.cache.deny_ttl, until_exp);
    return o;
}

// RFC 7662 §2.2: `active` decides; `exp` bounds the answer's life; `scope` is checked against
// required_scopes (RFC 6750 §3.1 insufficient_scope).
outcome decide_introspection(const upstream_answer& a, const settings& s, std::chrono::system_clock::time_point now) {
    if (a.status != 200) return error_outcome();
    auto j = nlohmann::json::parse(a.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return error_outcome();
    // Rounded up: an answer is never kept past its exp.
    const auto now_s = std::chrono::ceil<seconds>(now.time_since_epoch()).count();
    seconds until_exp = seconds::max();
    if (auto e = j.find("exp"); e != j.end() && e->is_number()) {
        // As a double first: a hostile exp (1e300, -1e300) must not overflow a conversion or the
        // difference; anything past a year from now counts as a year.
        const double left = std::clamp(e->get<double>() - static_cast<double>(now_s), 0.0, 365.0 * 86400);
        until_exp = seconds(static_cast<std::int64_t>(std::floor(left)));
    }
    const auto active = j.find("active");
    if (active == j.end() || !active->is_boolean() || !active->get<bool>() || until_exp.count() == 0)
        return introspection_deny(401, "Bearer realm=\"gatehouse\", error=\"invalid_token\"", s, s.cache.deny_ttl);
    const auto& is = s.introspection;
    std::string scope;
    if (auto sc = j.find("scope"); sc != j.end() && sc->is_string()) scope = sc->get<std::string>();
    if (!has_scopes(scope, is.required_scopes)) {
        std::string want;
        for (auto& r : is.required_scopes) want += (want.empty() ? "" : " ") + r;
        return introspection_deny(403, "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"" + want + "\"", s, until_exp);
    }
    outcome o;
    o.result = outcome::kind::allow;
    for (auto& [claim, header] : is.claims_to_headers)
        if (auto c = j.find(claim); c != j.end() && !c->is_null())
            if (auto text = claim_text(*c); valid_header_value(text)) o.headers.emplace_back(header, std::move(text));
    for (const char* k : {"sub", "username"})
        if (auto c = j.find(k); o.subject.empty() && c != j.end() && c->is_string()) o.subject = c->get<std::string>();
    if (s.cache.enabled) {
        cache::response_directives cc;
        for (auto& [n, v] : a.fields)
            if (http::iequals(n, "cache-control")) cache::parse_response_directives(v, cc);
        if (!cc.no_store) o.ttl = std::min(s.cache.max_ttl, until_exp);
    }
    return o;
}

}  // namespace

void collect_sent_fields(const request_context& ctx, const settings& s, sent_fields& out) {
    for (auto& name : s.send_headers)
        each_value(ctx, name, [&](std::string_view v) { out.emplace_back(name, std::string(v)); });
    const bool listed = std::find(s.send_headers.begin(), s.send_headers.end(), "content-type") != s.send_headers.end();
    if (s.send_body.enabled && ctx.has_body && !listed)
        if (auto ct = ctx.header("content-type")) out.emplace_back("content-type", std::string(*ct));
    out.emplace_back("x-forwarded-method", std::string(ctx.method));
    std::string uri;
    append_uri(uri, ctx);
    out.emplace_back("x-forwarded-uri", std::move(uri));
    out.emplace_back("x-forwarded-host", std::string(ctx.host));
    out.emplace_back("x-forwarded-proto", std::string(scheme_of(ctx)));
    if (!ctx.client_address.empty()) out.emplace_back("x-forwarded-for", std::string(ctx.client_address));
}

std::string_view vary_value(std::string_view name, std::string_view client_address) {
    return http::iequals(name, "x-forwarded-for") ? client_address : std::string_view{};
}

bool answer_applies(const outcome& o, std::string_view client_address) {
    for (auto& [name, value] : o.vary)
        if (vary_value(name, client_address) != value) return false;
    return true;
}

void collect_key_pieces(const request_context& ctx, const settings& s, std::string_view token, key_pieces& out) {
    out.n = 0;
    out.complete = true;
    each_key_piece(ctx, s, token, [&](std::string_view piece) {
        if (out.n < out.v.size()) out.v[out.n++] = piece;
        else out.complete = false;
    });
}

void append_key(const request_context& ctx, const settings& s, std::string_view token, std::string& out) {
    key_pieces pieces;
    collect_key_pieces(ctx, s, token, pieces);
    append_key(ctx, s, token, pieces, out);
}

void append_key(const request_context& ctx, const settings& s, std::string_view token, const key_pieces& pieces, std::string& out) {
    if (!pieces.complete) {  // more than it holds: one append a piece
        each_key_piece(ctx, s, token, [&](std::string_view piece) { append_piece(out, piece); });
        return;
    }
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < pieces.n; ++i) bytes += 4 + pieces.v[i].size();
    const auto at = out.size();
    out.resize(at + bytes);
    char* p = out.data() + at;
    for (std::size_t i = 0; i < pieces.n; ++i) p = write_piece(p, pieces.v[i]);
}

std::uint64_t key_hash(const key_pieces& pieces) {
    // Each piece's size and last (up to) 8 bytes: it only picks a front cache's slot, whose key
    // is compared in full, and the pieces that differ between clients (tokens, paths) differ
    // there or in their size.
    std::uint64_t h = pieces.n;
    for (std::size_t i = 0; i < pieces.n; ++i) h = mix(h, tail_word(pieces.v[i].data(), pieces.v[i].size()) + pieces.v[i].size());
    return h;
}

bool key_equals(const key_pieces& pieces, std::string_view key) {
    const char* p = key.data();
    const char* end = p + key.size();
    for (std::size_t i = 0; i < pieces.n; ++i) {
        const auto piece = pieces.v[i];
        std::uint32_t n;
        if (end - p < 4) return false;
        std::memcpy(&n, p, 4);
        p += 4;
        if (n != piece.size() || static_cast<std::size_t>(end - p) < n || !same_bytes(p, piece.data(), n)) return false;
        p += n;
    }
    return p == end;
}

void append_body_key(std::string_view body, std::string& out) {
    char hex[64];
    append_piece(out, "B");
    append_piece(out, util::sha256_hex(body, hex));
}

upstream_request build_request(const settings& s, std::string_view token, sent_fields fields, std::optional<std::string_view> body) {
    upstream_request r;
    r.upstream = s.upstream;
    r.target = s.path;
    r.timeout = s.timeout;
    if (s.how == mode::http) {
        r.method = body ? "POST" : "GET";
        r.fields = std::move(fields);
        if (body) r.body.assign(*body);
        return r;
    }
    r.method = "POST";
    r.fields.emplace_back("content-type", "application/x-www-form-urlencoded");
    r.fields.emplace_back("accept", "application/json");
    const auto& is = s.introspection;
    if (!is.client_id.empty()) {
        // RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic's base64.
        std::string creds;
        append_form_encoded(creds, is.client_id);
        creds += ':';
        append_form_encoded(creds, is.client_secret);
        r.fields.emplace_back("authorization", "Basic " + util::base64_encode(creds));
    }
    r.body = "token=";
    append_form_encoded(r.body, token);
    r.body += "&token_type_hint=access_token";
    return r;
}

outcome decide(const upstream_answer& a, const settings& s, std::chrono::system_clock::time_point now) {
    if (!a.ok) return error_outcome();
    return s.how == mode::http ? decide_http(a, s) : decide_introspection(a, s, now);
}

seconds answer_ttl(const upstream_answer& a, bool allow, const cache_settings& c) {
    if (!c.enabled) return seconds(0);
    if (!allow && a.status != 401 && a.status != 403) return seconds(0);
    cache::response_directives cc;
    for (auto& [n, v] : a.fields)
        if (http::iequals(n, "cache-control")) cache::parse_response_directives(v, cc);
    if (cc.no_store || cc.no_cache || cc.private_) return seconds(0);
    const auto cap = allow ? c.max_ttl : c.deny_ttl;
    if (cc.max_age.present && !cc.max_age.invalid) return std::min(cap, seconds(cc.max_age.value));
    return cap;
}

void append_form_encoded(std::string& out, std::string_view s) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        }
    }
}

}  // namespace gatehouse::middleware::ext_authz
