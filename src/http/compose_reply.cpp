// routes[].compose in the exchange: after the route's chain ran once, the composition
// (composition.hpp) runs its calls while the exchange waits on one timer (a call's end, or the
// route's timeout), then the answer goes out through the downstream stream like a local reply:
// the merged JSON, or a problem+json naming the required call that failed.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/composition.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"
#include "util/json_escape.hpp"
#include "util/text.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;

namespace {
// The exchange's wait may end by cancellation (an HTTP/2 stream reset by its client): whatever
// way compose() leaves, the composition lets go of the exchange and cancels the calls still
// running (after the route's timeout, a required call's failure, or the client's leaving).
struct abandon_guard {
    composition* run;
    void done() {
        run->abandon(true);
        run = nullptr;
    }
    ~abandon_guard() {
        if (run) run->abandon(true);
    }
};
}  // namespace

// What the calls' references may read, copied: the request head's views end with its body.
compose::request_inputs exchange::compose_inputs() const {
    compose::request_inputs in;
    for (std::size_t i = 0; i < mctx.path_vars.count; ++i)
        in.path_vars.emplace_back(std::string(mctx.path_vars.names[i]), std::string(mctx.path_vars.values[i]));
    for (const auto& f : req.fields) {
        in.fields.emplace_back(util::ascii_lower(f.name), std::string(f.value));
        if (iequals(f.name, "content-type")) in.content_type = f.value;
    }
    in.claims = mctx.claims;
    in.query = req.query;
    in.authority = req.authority;
    in.client_address = real_client();
    return in;
}

// The client's body, whole, for calls with `body: client` (the route's max_body_bytes bounds it).
asio::awaitable<bool> exchange::read_compose_body() {
    compose_body_ = held_body_;  // what a body phase took from the codec already (its first part, or all)
    if (!req.has_body) co_return true;
    for (;;) {
        auto ready = d_.body_ready();
        compose_body_.append(ready);
        d_.consume_body(ready.size());
        if (d_.body_done()) co_return true;
        const auto st = co_await d_.read_body();
        if (st != body_status::ok) co_return false;
    }
}

asio::awaitable<bool> exchange::compose() {
    const auto& r = *route;
    const auto& cfg = *r.config.compose;
    const auto timeout = r.config.timeout.value_or(snap->config.limits.request_timeout);
    if (composition::worker_bytes() > cfg.worker_memory) co_return co_await send_error(503, "too many compositions in flight");
    auto run = std::make_shared<composition>(*this, r, compose_inputs(), start + timeout);
    // A middleware that validates the body (openapi) sees it whole before any call, as on a
    // proxied route; the head's views end here (the composition copied what it needs).
    if (mctx.body_wanted() != 0) {
        bool answered = false;
        const bool sent = co_await run_body_phase(answered);
        if (answered) co_return sent;
    }
    const bool wants_body =
        std::any_of(cfg.calls.begin(), cfg.calls.end(), [](auto& c) { return c.body.k == compose::body_config::kind::client; });
    if (wants_body) {
        const bool whole = co_await read_compose_body();
        if (!whole) co_return co_await send_error(400, "the request body could not be read");
    }
    abandon_guard guard{run.get()};
    d_.watch_gone([weak = std::weak_ptr<composition>(run)] {
        if (auto r = weak.lock()) r->client_left();
    });
    run->start_ready();
    while (!run->finished() && !run->failed_required() && !run->client_gone()) {
        if (run->take_news()) {
            run->start_ready();
            continue;
        }
        run->wake.expires_at(run->deadline());
        auto [ec] = co_await run->wake.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!ec) run->time_out();  // the timer ran out: the route's timeout
    }
    d_.unwatch_gone();
    guard.done();
    upstream_name = "compose";
    compose_log_ = run->log_field();
    if (route->index < snap->compose_counts.size() && snap->compose_counts[route->index]) run->record(*snap->compose_counts[route->index]);
    if (run->client_gone()) {  // nginx's 499, as for a proxied request whose client left
        status = 499;
        error_source = "client";
        if (listener_.stats) listener_.stats->at(w_.id()).aborts_request.add();
        co_return false;
    }
    if (const auto* failed = run->failed_required()) co_return co_await send_compose_failure(*run, *failed);
    const auto partial = run->partial_header();
    const auto cache = partial.empty() ? run->cache_control() : std::string("no-store");
    reply_start(200);
    reply_field("Content-Type", "application/json");
    reply_field("X-Request-Id", request_id);
    if (!partial.empty()) reply_field("Gatehouse-Partial", partial);
    if (!cache.empty()) reply_field("Cache-Control", cache);
    reply_body_ = run->take_answer_body();
    run_reply_chain(200, reply_body_.size());
    std::string_view out;
    if (!filtered_reply(reply_body_, true, out)) co_return false;
    co_return co_await reply_send(out, true);
}

// A required call failed: RFC 9457 problem details naming it; 504 when it timed out, the call's
// own 4xx with status_from, else 502. No upstream body is ever copied.
asio::awaitable<bool> exchange::send_compose_failure(const composition& run, const compose::call_config& c) {
    const auto& o = run.outcome(static_cast<std::size_t>(&c - run.config().calls.data()));
    int s = o.reason == "timeout" ? 504 : 502;
    if (c.status_from && o.reason == "status" && o.status >= 400 && o.status < 500) s = o.status;
    error_source = s >= 500 ? "upstream_failure" : "upstream";
    auto& b = reply_body_;
    b = "{\"type\":\"about:blank\",\"title\":\"";
    b += s == 504 ? "Gateway Timeout" : s == 502 ? "Bad Gateway" : "Upstream Answer";
    b += "\",\"status\":" + std::to_string(s) + ",\"detail\":\"call '" + c.name + "' failed: ";
    util::append_json_escaped(b, o.reason);
    b += "\",\"call\":\"" + c.name + "\",\"reason\":\"";
    util::append_json_escaped(b, o.reason);
    b += "\",\"request_id\":\"";
    util::append_json_escaped(b, request_id);
    b += "\"}\n";
    reply_start(s);
    reply_field("Content-Type", "application/problem+json");
    reply_field("X-Request-Id", request_id);
    if (has_chain()) {
        run_response_chain(s);
        reply_chain_fields();
    }
    co_return co_await reply_send(reply_body_, true);
}

}  // namespace gatehouse::http
