#pragma once
// ext_authz as arithmetic, free of I/O: what the check request sends (and so its cache key),
// and what the service's answer decides, for how long. The middleware (ext_authz.cpp) and the
// unit tests call these directly.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gatehouse/middleware/middleware.hpp"
#include "middleware/ext_authz/ext_authz.hpp"

namespace gatehouse::middleware::ext_authz {

// An answer made into what the middleware does, and how long that may be reused.
struct outcome {
    enum class kind : std::uint8_t { allow, deny, error };
    kind result = kind::error;
    int status = 0;                                            // deny: the status the client gets
    std::vector<std::pair<std::string, std::string>> headers;  // allow: to the upstream; deny: to the client
    std::string subject;                                       // who it is (introspection: sub or username)
    std::chrono::seconds ttl{0};                               // 0: not reused
    // Fields of the check request the answer depends on beyond the key (its Vary, lower-case),
    // with the values they had in the request that was asked about.
    std::vector<std::pair<std::string, std::string>> vary;
};

// The check request's fields (http mode) in the order they are sent: the listed send_headers
// the client sent, then X-Forwarded-Method, -Uri, -Host, -Proto and -For (Traefik ForwardAuth's
// names; nginx auth_request users set the same by hand).
using sent_fields = std::vector<std::pair<std::string, std::string>>;
// With send_body, the client's Content-Type goes too (unless send_headers lists it already).
void collect_sent_fields(const request_context& ctx, const settings& s, sent_fields& out);
// The value of a field the answer's Vary names, as far as the key does not hold it already:
// only X-Forwarded-For (the client address) is sent and not in the key; any other name is in
// the key (method, URI, host, scheme, the listed headers) or was not sent, and counts as "".
std::string_view vary_value(std::string_view name, std::string_view client_address);

// The answer holds for a request from `client_address` (its Vary values are that request's).
bool answer_applies(const outcome& o, std::string_view client_address);

// The cache key: everything sent that decides the answer, unambiguously framed. http mode: the
// method, URI, host, scheme and each listed header (the client address only through the
// answer's Vary); introspection: the token. Appended to `out`.
void append_key(const request_context& ctx, const settings& s, std::string_view token, std::string& out);

// The key as views of its pieces, taken without copying (the hit path compares them with a
// key in a front cache and never builds one). `complete` false: more pieces than `v` holds
// (nine or more header values); then only append_key makes the key.
struct key_pieces {
    std::array<std::string_view, 24> v;
    std::size_t n = 0;
    bool complete = true;
};
void collect_key_pieces(const request_context& ctx, const settings& s, std::string_view token, key_pieces& out);
// append_key with the pieces collected already.
void append_key(const request_context& ctx, const settings& s, std::string_view token, const key_pieces& pieces, std::string& out);
// A hash of the key the pieces make (complete ones; of each piece's size and last 8 bytes:
// it picks a slot, never decides equality), and whether `key` is that key.
std::uint64_t key_hash(const key_pieces& pieces);
bool key_equals(const key_pieces& pieces, std::string_view key);

// The body's part of the cache key (send_body): a digest of what is sent. Appended to `out`.
void append_body_key(std::string_view body, std::string& out);

// The check request (its upstream and timeout included). `token`: the bearer token
// (introspection), `fields`: collect_sent_fields (http). `body` (send_body, a request with a
// body): sent as the check request's body, with POST.
upstream_request build_request(const settings& s, std::string_view token, sent_fields fields,
                               std::optional<std::string_view> body = std::nullopt);

// What an answer decides. `now`: the wall clock (introspection's exp).
outcome decide(const upstream_answer& a, const settings& s, std::chrono::system_clock::time_point now);

// How long an http-mode answer may be reused: an allow for its Cache-Control max-age capped by
// max_ttl (max_ttl without one); a 401/403 for max-age capped by deny_ttl (deny_ttl without
// one); never with no-store, no-cache or private, Vary: *, or for other answers.
std::chrono::seconds answer_ttl(const upstream_answer& a, bool allow, const cache_settings& c);

// application/x-www-form-urlencoded (the introspection request's token=...).
void append_form_encoded(std::string& out, std::string_view s);

}  // namespace gatehouse::middleware::ext_authz
