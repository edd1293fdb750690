// The exchange's spans (docs/observability.md "Tracing"): a sampled request gets a SERVER span,
// child of the client's span when it sent a traceparent; each try of its upstream call gets a
// CLIENT span, child of the SERVER span, whose id is the one the upstream sees in traceparent.
// Nothing here runs for a request that is not sampled or when no exporter is configured.
#include <charconv>
#include <cstring>

#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "observability/trace_context.hpp"
#include "upstream/call.hpp"
#include "util/text.hpp"

namespace gatehouse::http {

namespace {
std::uint64_t random_of(void* w) { return static_cast<session_host*>(w)->random(); }
}  // namespace

void exchange::start_server_span() {
    tracing_ = true;
    auto& s = server_span_;
    std::memcpy(s.trace_id, trace_id, 32);
    observability::hex16(w_.random(), s.span_id);
    s.has_parent = !new_trace;
    if (s.has_parent) std::memcpy(s.parent_id, trace_parent, 16);
    s.kind = observability::span_kind::server;
    const auto since_start = std::chrono::duration_cast<std::chrono::nanoseconds>(net::clock::now() - start).count();
    s.start_ns = observability::unix_now_ns() - static_cast<std::uint64_t>(since_start);
    s.method.assign(req.method);
    s.url_path.assign(req.path);
    s.url_query.assign(req.query);
    s.url_scheme.assign(facts().secure ? "https" : "http");
    const auto host = util::host_without_port(req.authority);
    s.server_address.assign(host);
    s.server_port = 0;
    if (host.size() + 1 < req.authority.size())
        std::from_chars(req.authority.data() + host.size() + 1, req.authority.data() + req.authority.size(), s.server_port);
    s.client_address.assign(real_client());
    // The CLIENT spans share the trace and hang under this span.
    auto& c = client_spans_.record;
    std::memcpy(c.trace_id, trace_id, 32);
    std::memcpy(c.parent_id, s.span_id, 16);
    c.has_parent = true;
    c.kind = observability::span_kind::client;
    c.method.assign(req.method);
    client_spans_.reset();
    client_spans_.ring = nullptr;  // set when an upstream call is traced
    client_spans_.wall_base_ns = s.start_ns;
    client_spans_.steady_base = start;
    client_spans_.span_hex = nullptr;
}

void exchange::note_client_span(const char (&span_id)[16]) { std::memcpy(client_spans_.record.span_id, span_id, 16); }

void exchange::trace_upstream(upstream::call_options& o, std::span<char> upstream_head, std::string_view upstream) {
    if (!tracing_) return;
    static constexpr std::string_view k_field = "\r\ntraceparent: 00-";
    // From the end: traceparent is among the last fields the request writer adds.
    const auto at = std::string_view(upstream_head.data(), upstream_head.size()).rfind(k_field);
    client_spans_.span_hex = at == std::string_view::npos ? nullptr : upstream_head.data() + at + k_field.size() + 33;
    client_spans_.ring = &snap->tracer->ring(w_.id());
    client_spans_.random = &random_of;
    client_spans_.random_state = &w_;
    client_spans_.record.upstream.assign(upstream);
    o.trace = &client_spans_;
}

void exchange::end_server_span() {
    tracing_ = false;
    auto& s = server_span_;
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(net::clock::now() - start).count();
    s.end_ns = s.start_ns + static_cast<std::uint64_t>(took);
    s.route.assign(route ? std::string_view(route->config.name) : std::string_view{});
    s.status_code = status;
    s.error = status >= 500;
    s.error_type.clear();
    if (s.error) {
        char buf[8];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, status);
        s.error_type.assign(buf, p);
    }
    snap->tracer->ring(w_.id()).push(s);
}

}  // namespace gatehouse::http
