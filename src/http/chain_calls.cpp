#include "http/chain_calls.hpp"

#include <charconv>

#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "observability/trace_context.hpp"
#include "upstream/cluster.hpp"
#include "upstream/subrequest.hpp"

namespace gatehouse::http {

namespace {

// The request as HTTP/1.1 wire text; Host is the upstream's name, Content-Length the body's;
// `traceparent` when the request is traced.
std::string wire_text(const middleware::upstream_request& r, std::string_view host, std::string_view traceparent) {
    std::string out;
    out.reserve(128 + r.target.size() + r.body.size());
    out.append(r.method).append(" ").append(r.target).append(" HTTP/1.1\r\nHost: ").append(host).append("\r\n");
    for (auto& [n, v] : r.fields) out.append(n).append(": ").append(v).append("\r\n");
    if (!traceparent.empty()) out.append("traceparent: ").append(traceparent).append("\r\n");
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
        char len[24];
        auto [end, ec] = std::to_chars(len, len + sizeof len, r.body.size());
        out.append("Content-Length: ").append(len, end).append("\r\n");
    }
    out.append("\r\n").append(r.body);
    return out;
}

}  // namespace

bool chain_calls::call(middleware::upstream_request r, middleware::upstream_answer_handler done) {
    const auto& snap = snap_;
    if (!snap) return false;
    std::size_t index = snap->clusters.size();
    for (std::size_t i = 0; i < snap->clusters.size(); ++i)
        if (snap->clusters[i]->name == r.upstream) index = i;
    if (index == snap->clusters.size()) return false;
    upstream::subrequest sr;
    std::string_view traceparent;
    if (ex_.has_trace) {  // the same trace, a span of its own (its id written by trace_subrequest)
        char span[16];
        observability::hex16(w_.random(), span);
        ex_.traceparent_.clear();
        observability::append_traceparent(ex_.traceparent_, ex_.trace_id, span, ex_.trace_flags);
        traceparent = ex_.traceparent_;
    }
    sr.request = wire_text(r, snap->clusters[index]->name, traceparent);
    sr.max_body = std::max<std::size_t>(1, r.max_body);
    sr.options.timeout = r.timeout;
    sr.options.replayable = true;  // all in hand: the keep-alive race may resend it
    sr.options.random = w_.random();
    sr.options.limits = snap->scan_limits;
    sr.keep = snap;  // the cluster's definition lives in the snapshot, which a reload may drop meanwhile
    if (auto traced = ex_.trace_subrequest(sr.options, sr.request, snap->clusters[index]->name, snap)) sr.keep = std::move(traced);
    upstream::start_subrequest(w_.ioc(), w_.cluster_for(*snap, index), std::move(sr),
                               [done = std::move(done)](upstream::subresponse&& resp) {
                                   middleware::upstream_answer a;
                                   a.ok = resp.ok;
                                   a.status = resp.status;
                                   if (!resp.ok) a.error = resp.error ? upstream::failure_name(resp.error.kind) : "invalid_body";
                                   a.fields = std::move(resp.fields);
                                   a.body = std::move(resp.body);
                                   done(std::move(a));
                               });
    return true;
}

}  // namespace gatehouse::http
