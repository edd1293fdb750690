// request_context::request_in_background: after the chain answered the client, the request as
// it would have been proxied goes to the route's upstream as a subrequest of the same worker
// (upstream/subrequest.hpp: admitted, retried and counted like any proxied request); its
// response (head, and a body up to a limit) is handed to the middleware's handler. A cache
// refreshes a stale entry this way (stale-while-revalidate) without a client waiting.
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "upstream/subrequest.hpp"

namespace gatehouse::http {

void exchange::start_background() {
    auto handler = mctx.take_background();
    const auto& r = *route;
    if (!handler || r.config.respond || r.config.redirect || req.has_body) return;
    chosen_upstream_ = choose_upstream(r);
    sender_.start(forward(r, snap->clusters[chosen_upstream_]->name, {}));
    upstream::subrequest sr;
    sr.request = sender_.head();
    sr.max_body = std::max<std::size_t>(1, mctx.background_max_body());
    sr.options = call_options_for(r);
    sr.options.replayable = true;  // no body: the head is all there is
    sr.keep = snap;                // the retry policy lives in the snapshot, which a reload may drop meanwhile
    if (auto traced = trace_subrequest(sr.options, sr.request, snap->clusters[chosen_upstream_]->name, snap)) sr.keep = std::move(traced);
    const auto request_time = std::chrono::system_clock::now();
    upstream::start_subrequest(w_.ioc(), w_.cluster_for(*snap, chosen_upstream_), std::move(sr),
                               [handler = std::move(handler), request_time](upstream::subresponse&& resp) {
                                   middleware::background_response out;
                                   out.ok = resp.ok;
                                   out.status = resp.status;
                                   out.fields = std::move(resp.fields);
                                   out.body = std::move(resp.body);
                                   out.request_time = request_time;
                                   out.response_time = std::chrono::system_clock::now();
                                   handler(std::move(out));
                               });
}

}  // namespace gatehouse::http
