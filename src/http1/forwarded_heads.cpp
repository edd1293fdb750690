// The heads (and trailers) that cross gatehouse: the request head sent upstream (rewrites,
// hop-by-hop fields dropped, X-Forwarded-*, tracing), the response head and the last chunk's
// trailers sent to the client, interim heads. The upstream request itself is in
// upstream_request.cpp.
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <string_view>

#include "http1/status_line.hpp"
#include "upstream/load_balancer.hpp"
#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"
#include "observability/trace_context.hpp"

namespace gatehouse::http1 {

using namespace std::string_view_literals;

namespace {

// Hop-by-hop fields (RFC 9110 §7.6.1) and the ones gatehouse sets itself.
bool is_hop_by_hop(std::string_view n) {
    switch (n.size()) {
        case 2: return iequals(n, "te");
        case 7: return iequals(n, "trailer") || iequals(n, "upgrade");
        case 10: return iequals(n, "connection") || iequals(n, "keep-alive");
        case 16: return iequals(n, "proxy-connection");
        case 17: return iequals(n, "transfer-encoding");
        default: return false;
    }
}

enum class forwarded_kind { none, xff, xfp, xfh, forwarded, real_ip };
forwarded_kind forwarded_header(std::string_view n) {
    if (n.size() == 9 && iequals(n, "forwarded")) return forwarded_kind::forwarded;
    if (n.size() == 9 && iequals(n, "x-real-ip")) return forwarded_kind::real_ip;
    if (n.size() == 15 && iequals(n, "x-forwarded-for")) return forwarded_kind::xff;
    if (n.size() == 17 && iequals(n, "x-forwarded-proto")) return forwarded_kind::xfp;
    if (n.size() == 16 && iequals(n, "x-forwarded-host")) return forwarded_kind::xfh;
    return forwarded_kind::none;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
}

// Field lines passed on as they arrived: lines that were consecutive in the received head go out
// as one copy; a field without its received line (added by gatehouse, from a stored response) is
// written out. flush() before anything else is appended to `out`.
class field_copier {
public:
    explicit field_copier(std::string& out) : out_(out) {}
    void keep(const field_view& f) {
        if (!f.line.empty() && f.line.data() == end_) {
            end_ += f.line.size();
            return;
        }
        flush();
        if (f.line.empty()) return append_field(out_, f.name, f.value);
        begin_ = f.line.data();
        end_ = begin_ + f.line.size();
    }
    void flush() {
        if (begin_ != nullptr) out_.append(begin_, end_);
        begin_ = end_ = nullptr;
    }

private:
    std::string& out_;
    const char* begin_ = nullptr;
    const char* end_ = nullptr;
};

// "HTTP/1.1 <status> <reason>\r\n" of a response passed on (the upstream's reason, or ours).
void append_response_line(std::string& out, const response_head& resp) {
    out += "HTTP/1.1 "sv;
    out += std::to_string(resp.status);
    out += ' ';
    if (resp.reason.empty()) out += reason_phrase(resp.status);
    else out += resp.reason;
    out += "\r\n"sv;
}

}  // namespace

// The forwarding claims of the client's head (X-Forwarded-*), kept only from a trusted proxy,
// and whether the client takes trailers.
struct client_connection::forwarded_claims {
    std::string_view xff, xfp, xfh;
    std::size_t xff_count = 0;
    bool te_trailers = false;
};

void client_connection::build_upstream_head(const router::compiled_route& r) {
    rewrite_path(r);
    up_head_.clear();
    append_upstream_request_line(r);
    forwarded_claims claims;
    forward_request_fields(claims);
    append_gatehouse_fields(claims);
}

// routes[].rewrite on the normalised path.
void client_connection::rewrite_path(const router::compiled_route& r) {
    const auto& rw = r.config.rewrite;
    if (rw && rw->strip_prefix && ex_.path.starts_with(*rw->strip_prefix)) {
        ex_.path.erase(0, rw->strip_prefix->size());
        if (ex_.path.empty() || ex_.path.front() != '/') ex_.path.insert(ex_.path.begin(), '/');
    } else if (rw && rw->replace_prefix && r.config.match.path_kind == config::path_match::prefix) {
        std::string rest = ex_.path.substr(r.config.match.path.size());
        ex_.path = *rw->replace_prefix;
        if (!rest.empty() && rest.front() == '/' && !ex_.path.empty() && ex_.path.back() == '/') rest.erase(0, 1);
        ex_.path += rest;
        if (ex_.path.empty()) ex_.path.push_back('/');  // not = "/": GCC 12 -O3 false -Wrestrict
    }
}

// The request line (the query without the parameters middleware took) and Host.
void client_connection::append_upstream_request_line(const router::compiled_route& r) {
    up_head_ += req_.method;
    up_head_ += ' ';
    up_head_ += ex_.path;
    if (req_.has_query) {
        if (ex_.mctx.removed_query_params().empty()) {
            up_head_ += '?';
            up_head_ += req_.query;
        } else if (auto q = router::without_query_params(req_.query, ex_.mctx.removed_query_params()); !q.empty()) {
            up_head_ += '?';  // a credential taken from the query stays here (api_key, jwt)
            up_head_ += q;
        }
    }
    up_head_ += " HTTP/1.1\r\nHost: "sv;
    const auto& rw = r.config.rewrite;
    if (rw && rw->host) up_head_ += *rw->host;
    else if (!req_.host.empty()) up_head_ += req_.host;
    else up_head_ += ex_.snap->clusters[chosen_upstream_]->name;  // an HTTP/1.0 client sent none
    up_head_ += "\r\n"sv;
}

// The client's fields that go on, as received (field_copier): not hop-by-hop, not ones gatehouse
// sets itself, not forwarding claims from an untrusted peer, not removed by middleware, not
// identity fields only gatehouse may vouch for.
void client_connection::forward_request_fields(forwarded_claims& claims) {
    const connection_names nominated(req_.connection);
    field_copier fields(up_head_);
    for (auto& f : req_.fields) {
        auto n = f.name;
        if (is_hop_by_hop(n)) {
            if (n.size() == 2 && list_contains(f.value, "trailers")) claims.te_trailers = true;
            continue;
        }
        switch (n.size()) {
            case 4:
                if (iequals(n, "host")) continue;
                break;
            case 6:
                if (iequals(n, "expect")) continue;
                break;
            case 10:  // a tracestate belonged to no trace we continue
                if (ex_.new_trace && iequals(n, "tracestate")) continue;
                break;
            case 11:  // replaced below
                if (iequals(n, "traceparent")) continue;
                break;
            case 12:
                if (iequals(n, "x-request-id")) continue;
                break;
            case 14:
                if (iequals(n, "content-length")) continue;
                break;
            default: break;
        }
        auto fk = forwarded_header(n);
        if (fk != forwarded_kind::none) {
            if (!trusted_peer_) continue;  // never trust forwarding claims from arbitrary clients
            if (fk == forwarded_kind::xff) {
                if (claims.xff_count++ == 0) claims.xff = f.value;
                else {
                    // several XFF lines from a trusted proxy: forward them joined, in order
                    fields.flush();
                    append_field(up_head_, "X-Forwarded-For", f.value);
                }
                continue;
            }
            if (fk == forwarded_kind::xfp) {
                claims.xfp = f.value;
                continue;
            }
            if (fk == forwarded_kind::xfh) {
                claims.xfh = f.value;
                continue;
            }
        }
        if (nominated.contains(n)) continue;  // hop-by-hop by the client's Connection field
        if (removed_by_middleware(n)) continue;
        if (tls_ctx_ && is_identity_header(n)) continue;  // only gatehouse vouches for a client certificate
        fields.keep(f);
    }
    fields.flush();
}

// What gatehouse adds: the verified client certificate's identity, middleware's fields, the
// upgrade and TE options, X-Forwarded-*, the request id, the trace, the body's framing.
void client_connection::append_gatehouse_fields(const forwarded_claims& claims) {
    if (client_id_.verified) {
        const auto& t = tls_ctx_->config();
        if (!t.subject_header.empty() && middleware::valid_header_value(client_id_.subject))
            append_field(up_head_, t.subject_header, client_id_.subject);
        if (!t.sans_header.empty() && middleware::valid_header_value(client_id_.sans))
            append_field(up_head_, t.sans_header, client_id_.sans);
        if (!t.fingerprint_header.empty()) append_field(up_head_, t.fingerprint_header, client_id_.fingerprint);
    }
    for (auto& [k, v] : ex_.mctx.added_headers())
        if (middleware::valid_header_value(v)) append_field(up_head_, k, v);
    // TE is hop-by-hop: only "trailers" goes on, with the connection option it needs (RFC 9110
    // §10.1.4).
    if (!upgrade_.empty()) {
        up_head_ += claims.te_trailers ? "Connection: upgrade, te\r\nTE: trailers\r\n"sv : "Connection: upgrade\r\n"sv;
        append_field(up_head_, "Upgrade", upgrade_);
    } else if (claims.te_trailers) {
        up_head_ += "Connection: te\r\nTE: trailers\r\n"sv;
    }
    up_head_ += "X-Forwarded-For: "sv;
    if (!claims.xff.empty()) {
        up_head_ += claims.xff;
        up_head_ += ", "sv;
    }
    up_head_ += peer_text_;
    up_head_ += "\r\nX-Forwarded-Proto: "sv;
    up_head_ += claims.xfp.empty() ? (io_.secure() ? std::string_view("https") : std::string_view("http")) : claims.xfp;
    if (!req_.host.empty() || !claims.xfh.empty()) {
        up_head_ += "\r\nX-Forwarded-Host: "sv;
        up_head_ += claims.xfh.empty() ? req_.host : claims.xfh;
    }
    up_head_ += "\r\nX-Request-Id: "sv;
    up_head_ += ex_.request_id;
    up_head_ += "\r\n"sv;
    if (ex_.has_trace) {
        // The same trace, a new parent: this hop is a span of its own.
        char span[16];
        observability::random_hex(
            span, 16, [](void* w) { return static_cast<session_host*>(w)->random(); }, &w_);
        up_head_ += "traceparent: "sv;
        observability::append_traceparent(up_head_, ex_.trace_id, span, ex_.trace_flags);
        up_head_ += "\r\n"sv;
    }
    if (req_.framing == body_framing::content_length) {
        up_head_ += "Content-Length: "sv;
        up_head_ += std::to_string(req_.content_length);
        up_head_ += "\r\n"sv;
    } else if (req_.framing == body_framing::chunked) {
        up_head_ += "Transfer-Encoding: chunked\r\n"sv;
    }
    up_head_ += "\r\n"sv;
}

// An interim (1xx) response passed on to the client: its status line and end-to-end fields.
void client_connection::build_interim_head(const response_head& resp) {
    out_.clear();
    append_response_line(out_, resp);
    const connection_names nominated(resp.connection);
    for (auto& f : resp.fields) {
        if (is_hop_by_hop(f.name)) continue;
        if (nominated.contains(f.name)) continue;
        append_field(out_, f.name, f.value);
    }
    out_ += "\r\n"sv;
}

void client_connection::append_last_chunk(std::string& out, const body_decoder<false>* dec) {
    out += "0\r\n"sv;
    const std::string_view lines = dec ? dec->trailer_lines() : std::string_view{};
    if (!ex_.route_chain && !ex_.listener_chain) {
        out += lines;  // validated by the decoder, passed on as they are
        out += "\r\n"sv;
        return;
    }
    std::vector<field_view> fields;
    if (dec) fields = dec->trailer_fields();
    middleware::trailer_edit edit;
    edit.fields = fields;
    // A body filter (compression) changed the bytes: a digest of the upstream's no longer holds.
    if (ex_.medit.body)
        for (std::string_view digest : {"content-digest", "repr-digest", "digest", "content-md5"}) edit.remove.push_back(digest);
    ex_.run_trailer_chain(edit);
    if (edit.remove.empty()) out += lines;
    else
        for (auto& f : fields)
            if (!edit.removes(f.name)) out.append(f.line);
    for (auto& [k, v] : edit.add)
        if (!field_name_problem(k, false) && !is_forbidden_trailer(k) && middleware::valid_header_value(v)) append_field(out, k, v);
    out += "\r\n"sv;
}

void client_connection::build_client_head(const response_head& resp, bool chunked_to_client, bool close,
                                          std::optional<std::size_t> filtered_length) {
    ex_.status = resp.status;
    out_.clear();
    append_response_line(out_, resp);
    const bool chain = ex_.route_chain || ex_.listener_chain;
    const connection_names nominated(resp.connection);
    field_copier fields(out_);
    for (auto& f : resp.fields) {
        if (is_hop_by_hop(f.name)) continue;
        if (chain && !ex_.medit.remove.empty() && ex_.medit.removes(f.name)) continue;
        if (f.name.size() == 14 && iequals(f.name, "content-length")) continue;
        if (nominated.contains(f.name)) continue;
        fields.keep(f);
    }
    fields.flush();
    if (ex_.medit.body) {
        // The filter decides the length: known when the body was filtered whole, else chunked.
        if (filtered_length) {
            out_ += "Content-Length: "sv;
            out_ += std::to_string(*filtered_length);
            out_ += "\r\n"sv;
        } else if (chunked_to_client) {
            out_ += "Transfer-Encoding: chunked\r\n"sv;
        }
    } else if (resp.framing == body_framing::content_length ||
               (resp.framing == body_framing::none && resp.has_content_length && resp.status >= 200 && resp.status != 204)) {
        out_ += "Content-Length: "sv;
        out_ += std::to_string(resp.content_length);
        out_ += "\r\n"sv;
    } else if (chunked_to_client) {
        out_ += "Transfer-Encoding: chunked\r\n"sv;
    }
    if (chain) {
        for (auto& [k, v] : ex_.medit.add)
            if (middleware::valid_header_value(v)) append_field(out_, k, v);
    }
    if (close) out_ += "Connection: close\r\n"sv;
    else if (req_.version == 10) out_ += "Connection: keep-alive\r\n"sv;
    out_ += "\r\n"sv;
}

}  // namespace gatehouse::http1
