// The exchange's spans (docs/observability.md "Tracing"): a sampled request gets a SERVER span,
// child of the client's span when it sent a traceparent; each try of its upstream call gets a
// CLIENT span, child of the SERVER span, whose id is the one the upstream sees in traceparent.
// Nothing here runs for a request that is not sampled or when no exporter is configured.
#include <charconv>
#include <cstring>

#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "http1/head.hpp"
#include "observability/trace_context.hpp"
#include "upstream/call.hpp"
#include "util/text.hpp"

namespace gatehouse::http {

namespace {
std::uint64_t random_of(void* w) { return static_cast<session_host*>(w)->random(); }

// The span id's 16 digits in the traceparent line of a request head (null: none). The request
// writer puts that line last but for the body's framing field: looked for there first.
char* span_id_in(std::span<char> head, std::string_view traceparent) {
    static constexpr std::string_view k_name = "traceparent: ";
    const std::string_view h(head.data(), head.size());
    const auto line = k_name.size() + traceparent.size() + 2;
    auto at = std::string_view::npos;
    for (std::size_t end = h.size() >= 2 ? h.size() - 2 : 0, i = 0; i < 2 && end >= line + 3; ++i) {
        if (h.compare(end - line, k_name.size(), k_name) == 0) {
            at = end - line;
            break;
        }
        end = h.rfind('\n', end - 3) + 1;  // the line before
    }
    if (at == std::string_view::npos) at = h.rfind(k_name);
    if (at == std::string_view::npos || traceparent.size() != 55 || h.compare(at + k_name.size(), 55, traceparent) != 0) return nullptr;
    return head.data() + at + k_name.size() + 36;  // after "00-" and the trace id's 32 digits and '-'
}
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
    observability::call_spans::request_trace rt{trace_id, s.span_id, snap->tracer.get(), w_.id(), &random_of, &w_, s.start_ns, start};
    call_spans_.arm(rt);
}

void exchange::note_client_span(const char (&span_id)[16]) { std::memcpy(client_spans_.record.span_id, span_id, 16); }

void exchange::trace_upstream(upstream::call_options& o, std::span<char> upstream_head, std::string_view upstream) {
    if (!tracing_) return;
    client_spans_.span_hex = span_id_in(upstream_head, traceparent_);
    client_spans_.ring = &snap->tracer->ring(w_.id());
    client_spans_.random = &random_of;
    client_spans_.random_state = &w_;
    client_spans_.record.upstream.assign(upstream);
    o.trace = &client_spans_;
}

void exchange::retrace_upstream_head() {
    if (tracing_ && client_spans_.span_hex) client_spans_.span_hex = span_id_in(sender_.head_bytes(), traceparent_);
}

namespace {
// A subrequest outlives its exchange: its CLIENT span and the rings it goes to live with it.
struct subrequest_spans {
    std::shared_ptr<const void> also;
    std::shared_ptr<observability::tracer> tracer;
    observability::client_spans spans;
};
}  // namespace

std::shared_ptr<const void> exchange::trace_subrequest(upstream::call_options& o, std::string& request, std::string_view upstream,
                                                       std::shared_ptr<const void> also) {
    if (!tracing_) return {};
    auto s = std::make_shared<subrequest_spans>();
    s->also = std::move(also);
    s->tracer = snap->tracer;
    auto& c = s->spans;
    c.record = client_spans_.record;  // the trace, the SERVER span as parent, the method
    c.record.upstream.assign(upstream);
    observability::hex16(w_.random(), c.record.span_id);
    // Its own span id in its copy's traceparent. The copy moves into the subrequest: a later try
    // (the move past a failed connect) records its own id without rewriting it (span_hex null).
    // (looked for in the head alone: a body may hold the same text)
    const auto head_end = http1::find_head_end(request, 0);
    const std::span<char> head(request.data(), head_end == std::string::npos ? request.size() : head_end);
    if (auto* hex = span_id_in(head, traceparent_)) std::memcpy(hex, c.record.span_id, 16);
    c.ring = &s->tracer->ring(w_.id());
    c.random = &random_of;
    c.random_state = &w_;
    c.wall_base_ns = client_spans_.wall_base_ns;
    c.steady_base = client_spans_.steady_base;
    o.trace = &c;
    return s;
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
