// The forwarding policy: what of the client's request goes upstream and what gatehouse adds
// (routes[].rewrite, hop-by-hop fields dropped, X-Forwarded-*, the request id, the trace, the
// verified client certificate's identity, middleware's edits), as a forwarded_request that the
// upstream's codec writes. The same for every codec the request came by.
#include <string_view>

#include "grpc/status.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"
#include "observability/trace_context.hpp"

namespace gatehouse::http {

namespace {

// Fields of the client's that gatehouse replaces with its own.
bool replaced_by_gatehouse(std::string_view n, bool new_trace) {
    switch (n.size()) {
        case 4: return iequals(n, "host");
        case 6: return iequals(n, "expect");
        case 10: return new_trace && iequals(n, "tracestate");  // it belonged to no trace we continue
        case 11: return iequals(n, "traceparent");
        case 12: return iequals(n, "x-request-id");
        case 14: return iequals(n, "content-length");
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

// A field the Connection field names is hop-by-hop too (RFC 9110 §7.6.1). The Connection field
// is met in the same pass that keeps fields (the last one counts, as the HTTP/1 scanner has it),
// so the kept indices are filtered afterwards, and only when it names something.
bool is_connection(std::string_view n) { return n.size() == 10 && iequals(n, "connection"); }

void drop_nominated(std::vector<std::uint32_t>& kept, field_list fields, std::string_view connection) {
    if (connection.empty()) return;
    const connection_names nominated(connection);
    if (nominated.names_nothing_else()) return;
    std::erase_if(kept, [&](std::uint32_t i) { return nominated.contains(fields[i].name); });
}

}  // namespace

// The forwarding claims of the client's fields (X-Forwarded-*), kept only from a trusted proxy.
struct exchange::forwarded_claims {
    std::string_view xff, xfp, xfh;
    std::size_t xff_count = 0;
};

const forwarded_request& exchange::forward(const router::compiled_route& r, std::string_view cluster_name, std::string_view upgrade) {
    rewrite_path(r);
    auto& f = forwarded_;
    f.method = req.method;
    f.path = path;
    f.has_query = false;
    if (req.has_query && mctx.removed_query_params().empty()) {
        f.query = req.query;
        f.has_query = true;
    } else if (req.has_query) {  // a credential taken from the query (api_key, jwt) stays here
        query_buf_ = router::without_query_params(req.query, mctx.removed_query_params());
        f.query = query_buf_;
        f.has_query = !f.query.empty();
    }
    const auto& rw = r.config.rewrite;
    f.authority = rw && rw->host           ? std::string_view(*rw->host)
                  : !req.authority.empty() ? req.authority
                                           : cluster_name;  // an HTTP/1.0 client may send none
    f.source = req.fields;
    f.upgrade = upgrade;
    f.has_body = req.has_body;
    f.content_length = req.content_length;
    forwarded_claims claims;
    keep_client_fields(claims);
    add_gatehouse_fields(claims);
    if (grpc_web_) translate_grpc_web(f);
    return f;
}

// routes[].rewrite on the normalised path.
void exchange::rewrite_path(const router::compiled_route& r) {
    const auto& rw = r.config.rewrite;
    if (rw && rw->strip_prefix && path.starts_with(*rw->strip_prefix)) {
        path.erase(0, rw->strip_prefix->size());
        if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
    } else if (rw && rw->replace_prefix && r.config.match.path_kind == config::path_match::prefix) {
        std::string rest = path.substr(r.config.match.path.size());
        path = *rw->replace_prefix;
        if (!rest.empty() && rest.front() == '/' && !path.empty() && path.back() == '/') rest.erase(0, 1);
        path += rest;
        if (path.empty()) path.push_back('/');  // not = "/": GCC 12 -O3 false -Wrestrict
    } else if (rw && rw->path) {
        rewrite_buf_.clear();
        for (const auto& part : rw->path_parts)
            if (!part.variable) rewrite_buf_ += part.text;
            else if (auto v = mctx.path_vars.find(part.text)) rewrite_buf_ += *v;  // a segment or the rest: no '..', no "%2F"
        path.assign(rewrite_buf_);
        mctx.path_vars.clear();  // its views into `path` now see the rewritten text
    }
}

// The client's fields that go on: not hop-by-hop, not ones gatehouse sets itself, not
// forwarding claims from an untrusted peer, not removed by middleware, not identity fields only
// gatehouse may vouch for. A client's TE: trailers is noted (it goes on as TE: trailers).
void exchange::keep_client_fields(forwarded_claims& claims) {
    auto& f = forwarded_;
    f.kept.clear();
    f.te_trailers = false;
    const bool trusted = facts().trusted_proxy;
    std::string_view connection;
    std::uint32_t i = 0;
    for (auto it = req.fields.begin(); it != req.fields.end(); ++it, ++i) {
        auto n = it->name;
        if (is_hop_by_hop(n)) {
            if (n.size() == 2 && list_contains(it->value, "trailers")) f.te_trailers = true;
            if (is_connection(n)) connection = it->value;
            continue;
        }
        if (replaced_by_gatehouse(n, new_trace)) continue;
        auto fk = forwarded_header(n);
        if (fk != forwarded_kind::none) {
            if (!trusted) continue;  // never trust forwarding claims from arbitrary clients
            // The first X-Forwarded-For is extended with the peer (below); further ones from a
            // trusted proxy go on as they are, in order.
            if (fk == forwarded_kind::xff && claims.xff_count++ == 0) {
                claims.xff = it->value;
                continue;
            }
            if (fk == forwarded_kind::xfp) {
                claims.xfp = it->value;
                continue;
            }
            if (fk == forwarded_kind::xfh) {
                claims.xfh = it->value;
                continue;
            }
        }
        if (removed_by_middleware(n)) continue;
        if (is_identity_field(n)) continue;  // only gatehouse vouches for a client certificate
        f.kept.push_back(i);
    }
    drop_nominated(f.kept, req.fields, connection);
}

bool exchange::removed_by_middleware(std::string_view name) const {
    for (auto& r : mctx.removed_headers())
        if (iequals(r, name)) return true;
    return false;
}

bool exchange::is_identity_field(std::string_view name) const {
    const auto& t = listener_.cfg.tls;
    if (!t) return false;
    return (!t->subject_header.empty() && iequals(name, t->subject_header)) || (!t->sans_header.empty() && iequals(name, t->sans_header)) ||
           (!t->fingerprint_header.empty() && iequals(name, t->fingerprint_header));
}

// What gatehouse adds: the verified client certificate's identity, middleware's fields, and
// what it always sets (X-Forwarded-*, the request id, the trace).
void exchange::add_gatehouse_fields(const forwarded_claims& claims) {
    auto& added = forwarded_.added;
    added.clear();
    const auto& c = facts();
    if (c.client_verified && listener_.cfg.tls) {
        const auto& t = *listener_.cfg.tls;
        if (!t.subject_header.empty() && middleware::valid_header_value(c.client_subject))
            added.push_back({t.subject_header, c.client_subject});
        if (!t.sans_header.empty() && middleware::valid_header_value(c.client_sans)) added.push_back({t.sans_header, c.client_sans});
        if (!t.fingerprint_header.empty()) added.push_back({t.fingerprint_header, c.client_fingerprint});
    }
    for (auto& [k, v] : mctx.added_headers())
        if (middleware::valid_header_value(v)) added.push_back({k, v});
    auto& f = forwarded_;
    f.forwarded_for_claim = claims.xff;
    f.peer = c.peer;
    f.forwarded_proto = !claims.xfp.empty() ? claims.xfp : c.secure ? std::string_view("https") : std::string_view("http");
    f.forwarded_host = !claims.xfh.empty() ? claims.xfh : req.authority;
    f.request_id = request_id;
    f.traceparent = {};
    if (has_trace) {
        // The same trace, a new parent: this hop is a span of its own.
        char span[16];
        observability::random_hex(
            span, 16, [](void* w) { return static_cast<session_host*>(w)->random(); }, &w_);
        if (tracing_) note_client_span(span);  // the id of the first try's CLIENT span
        traceparent_.clear();
        observability::append_traceparent(traceparent_, trace_id, span, trace_flags);
        f.traceparent = traceparent_;
    }
}

const response_head& exchange::relayed_head(int s, std::string_view reason, field_list fields,
                                            std::optional<std::uint64_t> content_length) {
    status = s;
    if (grpc_protocol != grpc::protocol::none) grpc_status = grpc::status_in(fields);  // Trailers-Only
    keep_upstream_fields(fields, has_chain());
    relayed_added_.clear();
    if (has_chain())
        for (auto& [k, v] : medit.add)
            if (middleware::valid_header_value(v)) relayed_added_.push_back({k, v});
    if (web_out_) {
        grpc_web_head(fields);
        content_length.reset();  // the body gains the trailers' frame (and base64 in text mode)
    }
    relayed_ = {s, reason, fields, &relayed_kept_, relayed_added_, content_length};
    return relayed_;
}

const response_head& exchange::relayed_interim(int s, std::string_view reason, field_list fields) {
    keep_upstream_fields(fields, false);
    relayed_added_.clear();
    relayed_ = {s, reason, fields, &relayed_kept_, {}, std::nullopt};
    return relayed_;
}

void exchange::keep_upstream_fields(field_list fields, bool chain_edits) {
    relayed_kept_.clear();
    const bool removals = chain_edits && !medit.remove.empty();
    std::string_view connection;
    std::uint32_t i = 0;
    for (auto it = fields.begin(); it != fields.end(); ++it, ++i) {
        auto n = it->name;
        if (is_hop_by_hop(n)) {
            if (is_connection(n)) connection = it->value;
            continue;
        }
        if (removals && medit.removes(n)) continue;
        if (n.size() == 14 && iequals(n, "content-length")) continue;
        relayed_kept_.push_back(i);
    }
    drop_nominated(relayed_kept_, fields, connection);
}

}  // namespace gatehouse::http
