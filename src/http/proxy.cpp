// The upstream phase of an exchange: the request prepared for its upstream (the cluster, the
// call's options, the head the forwarding policy leaves, whether its body can be sent again),
// sent through an upstream::call (upstream/call.cpp: admission, endpoints, retries, outcomes)
// with the body pulled from the downstream stream (upstream/streamed_request.cpp), and the
// response relayed (relay.cpp). A call that fails is answered with gatehouse's own error, or
// with the route's fallback. Nothing here knows how the client's bytes were framed.
#include <algorithm>
#include <string>

#include "http/exchange.hpp"
#include "http/mirror.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"
#include "upstream/load_balancer.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;
using upstream::failure;
using upstream::upstream_error;

namespace {

// A request body this small that arrived whole with its head is kept until the response head
// is in, so the request can be resent on a fresh connection.
constexpr std::uint64_t k_replay_limit = 64 * 1024;

// A gRPC call's total limit: the route's grpc.max_stream_duration (0: none), shortened by the
// client's grpc-timeout. "None" is a year: the call's deadline is a time point. Streams are then
// bounded by idle timeouts only (upstream_idle_timeout, body_timeout, the HTTP/2 stream's).
net::clock::duration grpc_call_timeout(const config::route_config& r, std::optional<std::chrono::milliseconds> client) {
    net::clock::duration limit = r.grpc_max_stream_duration;
    if (client && (limit.count() == 0 || *client < limit)) limit = *client;
    return limit.count() == 0 ? std::chrono::hours(24 * 365) : limit;
}

bool falls_back(const upstream_error& err) {
    return err.kind == failure::breaker_open || err.kind == failure::no_endpoint || err.kind == failure::no_healthy;
}

}  // namespace

asio::awaitable<bool> exchange::proxy() {
    const auto& r = *route;
    prepare_call(r);
    // A middleware that validates the body sees it whole before the call (its size bounded).
    if (mctx.body_wanted() != 0) {
        bool answered = false;
        const bool sent = co_await run_body_phase(answered);
        if (answered) co_return sent;
    }
    // A small body a retry or the mirror would send again is read whole first (HTTP/1.1 has it
    // with the head as a rule; an HTTP/2 stream's DATA comes after its HEADERS).
    if (buffers_body(r)) co_await buffer_body();
    start_call();
    if (r.mirror_index != static_cast<std::size_t>(-1)) maybe_mirror(r);
    upstream_error err;
    for (bool fell_back = false;;) {
        err = call_->admit();
        if (!err) err = co_await call_->tries(sender_);
        // fallback: the breaker is open or no endpoint is usable; never after bytes were sent.
        if (!falls_back(err) || !r.config.fallback || fell_back) break;
        fell_back = true;
        if (r.fallback_index == static_cast<std::size_t>(-1)) break;
        call_->retarget(w_.cluster_for(*snap, r.fallback_index));
    }
    note_call();
    sender_.release();  // no resend from here on
    if (err && falls_back(err) && r.config.fallback && r.fallback_index == static_cast<std::size_t>(-1)) {
        note_local_error(err);
        co_return co_await send_respond(*r.config.fallback->respond);
    }
    if (err) co_return co_await fail_upstream(err);
    if (call_->head().status == 101) {
        call_->record_answer();  // the tunnel's lifetime is not the upstream's response time
        upstream_status = status = 101;
        co_return true;  // the codec runs the tunnel (switched())
    }
    if (needs_switch && call_->head().status / 100 == 2) {
        upstream_status = call_->head().status;
        error_source = "upstream_failure";
        call_->drop_connection();
        end_call();
        co_return co_await send_error(502, "the upstream did not switch protocols");
    }
    bool complete = co_await relay();
    end_call();
    co_return complete;
}

// A 1xx before the final answer goes on to the client with its end-to-end fields, if the
// client can take it.
asio::awaitable<upstream::interim_result> exchange::proxied_request::interim(const upstream::response_head& head) {
    auto sent = co_await ex_.d_.send_interim(ex_.relayed_interim(head.status, head.reason, head.fields));
    if (sent == interim_outcome::gone) co_return upstream::interim_result::caller_gone;
    co_return sent == interim_outcome::sent ? upstream::interim_result::passed : upstream::interim_result::dropped;
}

void exchange::end_call() {
    if (!call_) return;
    call_->finish(false);  // a no-op unless the relay was cut
    upstream_ms = call_->elapsed_ms();
    call_.reset();
    sender_.call_ended();
}

// The cluster (a split's choice), the call's options, the head as it goes upstream.
void exchange::prepare_call(const router::compiled_route& r) {
    const auto& limits = snap->config.limits;
    chosen_upstream_ = choose_upstream(r);
    auto cluster = w_.cluster_for(*snap, chosen_upstream_);
    auto o = call_options_for(r);
    choose_hash_key(cluster->def(), o);
    relay_idle_ = r.config.upstream_idle_timeout.value_or(limits.upstream_idle_timeout);
    is_head_ = req.method == "HEAD";
    note_upgrade(r);
    const auto& def = cluster->def();
    grpc_web_ = r.config.grpc_web && (grpc_protocol == grpc::protocol::web || grpc_protocol == grpc::protocol::web_text);
    web_out_.reset();
    sender_.start(forward(r, snap->clusters[chosen_upstream_]->name, upgrade_), def.multiplexed(), def.tls_ctx != nullptr);
    if (grpc_web_ && grpc_protocol == grpc::protocol::web_text) {
        web_body_.attach(d_);
        sender_.body_from(web_body_);
    }
    trace_upstream(o, sender_.head_bytes(), cluster->def().name);
    // From here on the request head's views may die (the body is read).
    call_opts_ = o;
    call_cluster_ = std::move(cluster);
}

// Fields a middleware added in the body phase (ext_authz with send_body): prepare_call wrote the
// upstream head already; they go in before its end (a composition's calls take no middleware
// fields). The traced try's span id moved with the head's bytes.
void exchange::add_late_fields(std::size_t from) {
    if (route->config.compose) return;
    const auto& added = mctx.added_headers();
    for (std::size_t i = from; i < added.size(); ++i)
        if (middleware::valid_header_value(added[i].second)) sender_.add_field(added[i].first, added[i].second);
    retrace_upstream_head();
}

// Whether the body is read whole before the first try: its length is known and small, it is
// not all here yet, and a retry of this method or the route's mirror would need it again.
bool exchange::buffers_body(const router::compiled_route& r) const {
    if (!req.has_body || !req.content_length || *req.content_length > k_replay_limit || d_.body_done()) return false;
    return call_opts_.retryable || r.mirror_index != static_cast<std::size_t>(-1);
}

asio::awaitable<void> exchange::buffer_body() {
    auto st = body_status::ok;
    while (st == body_status::ok && !d_.body_done()) st = co_await d_.read_body();  // an error: the call finds out when it sends
}

// The call, once it is known whether the body can be sent again (retries, the keep-alive race).
void exchange::start_call() {
    auto& o = call_opts_;
    sender_.keep_body_up_to(k_replay_limit);
    if (o.retryable) o.retryable = sender_.replayable() && (!req.has_body || req.content_length.value_or(0) <= o.retry->buffer_body);
    o.replayable = sender_.replayable();
    o.allow_switch = !upgrade_.empty();
    call_.emplace(std::move(call_cluster_), o, up_head_);
}

// What every call of this request starts from: the route's timeout and retry policy (retryable:
// the policy retries this method; the body may still forbid it), HEAD, the scanner's limits.
upstream::call_options exchange::call_options_for(const router::compiled_route& r) {
    upstream::call_options o;
    o.timeout = grpc_protocol == grpc::protocol::none ? r.config.timeout.value_or(snap->config.limits.request_timeout)
                                                      : grpc_call_timeout(r.config, grpc_timeout);
    o.is_head = req.method == "HEAD";
    o.random = w_.random();
    o.limits = snap->scan_limits;
    if (const auto& retry = r.config.retry) {
        o.retry = &*retry;
        o.retry_stats = snap->retry_counts[r.index].get();
        o.retryable = std::find(retry->methods.begin(), retry->methods.end(), req.method) != retry->methods.end();
    }
    return o;
}

// ring_hash: the key the endpoint is chosen by (the client's address, or a field's value).
void exchange::choose_hash_key(const upstream::cluster& def, upstream::call_options& o) const {
    if (def.lb.policy != config::lb_policy::ring_hash) return;
    if (def.lb.hash_on == config::lb_config::hash_source::client_ip) {
        o.hash_key = upstream::hash64(facts().peer);
        o.has_key = true;
        return;
    }
    for (auto& f : req.fields)
        if (iequals(f.name, def.lb.hash_header)) {
            o.hash_key = upstream::hash64(f.value);
            o.has_key = true;
            return;
        }
}

// RFC 9110 §7.8: the client asks to switch; on a route that allows the protocol the request goes
// on with Connection: upgrade, and the tunnel opens only on a 101 (upgrade_ keeps the value).
void exchange::note_upgrade(const router::compiled_route& r) {
    upgrade_.clear();
    if (r.config.upgrades.empty() || req.has_body) return;
    std::string_view upgrade;
    bool asked = false;
    for (auto& f : req.fields) {
        if (f.name.size() == 7 && iequals(f.name, "upgrade") && upgrade.empty()) upgrade = f.value;
        if (f.name.size() == 10 && iequals(f.name, "connection") && list_contains(f.value, "upgrade")) asked = true;
    }
    if (!asked || upgrade.empty()) return;
    auto proto = upgrade.substr(0, upgrade.find_first_of("/, \t"));
    for (auto& allowed : r.config.upgrades)
        if (iequals(proto, allowed)) upgrade_.assign(upgrade);
}

// routes[].mirror: a copy to the shadow upstream for `percent` of the requests (http/mirror.cpp).
void exchange::maybe_mirror(const router::compiled_route& r) {
    const auto& counts = snap->mirror_counts[r.index];
    if (!counts || static_cast<double>(w_.random() % 10000) >= r.config.mirror->percent * 100) return;
    if (!sender_.replayable()) {  // the body is not all here: it is streamed to the one real upstream only
        counts->skipped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::string copy(sender_.http1_head());  // (the primary may be an HTTP/2 upstream: its head is a header list)
    if (req.has_body) copy += sender_.kept_body();
    upstream::call_options o;  // no retries: a shadow gets one try (and the move past a failed connect)
    o.timeout = call_options_for(r).timeout;
    o.replayable = true;
    o.is_head = is_head_;
    o.random = w_.random();
    o.limits = snap->scan_limits;
    auto traced = trace_subrequest(o, copy, snap->clusters[r.mirror_index]->name);
    start_mirror(w_.ioc(), w_.cluster_for(*snap, r.mirror_index), std::move(copy), o, counts, std::move(traced));
}

// The route's upstream, or one of its split by weight: at random, or by the sticky key's hash
// (the same key lands on the same upstream while the weights stay).
std::size_t exchange::choose_upstream(const router::compiled_route& r) {
    if (r.split.empty()) return r.upstream_index;
    const auto total = r.split.back().second;
    std::optional<std::string_view> key;
    const auto& on = r.config.split_on;
    if (on.from == config::split_key::kind::header) {
        for (auto& f : req.fields)
            if (iequals(f.name, on.name)) {
                key = f.value;
                break;
            }
    } else if (on.from == config::split_key::kind::cookie) {
        key = find_cookie(req.fields, on.name);
    }
    const std::uint64_t point = (key ? upstream::hash64(*key) : w_.random()) % total;
    for (auto& [index, cumulative] : r.split)
        if (point < cumulative) return index;
    return r.split.back().first;
}

// What the access log says about the call's tries.
void exchange::note_call() {
    upstream_attempts = call_->attempts();
    upstream_name = call_->def().name;
    if (auto ep = call_->endpoint(); !ep.empty()) upstream_addr.assign(ep);
}

// What the access log and metrics say about an answer gatehouse made instead of the upstream.
void exchange::note_local_error(const upstream_error& err) {
    upstream_name = call_->def().name;
    error_source = err.local() ? "gatehouse" : err.from_client() ? "client" : "upstream_failure";
}

asio::awaitable<bool> exchange::fail_upstream(const upstream_error& err) {
    call_->drop_connection();
    if (err.kind == failure::client_gone) {
        // nginx's 499: recorded and logged as such, with the client as the error's source.
        status = 499;
        error_source = "client";
        if (listener_.stats) listener_.stats->at(w_.id()).aborts_request.add();
        end_call();
        co_return false;
    }
    note_local_error(err);
    // The chain sees gatehouse's own answer: it may add fields (CORS, Cache-Status, RateLimit)
    // or send another answer instead (a cache's stale entry under stale-if-error).
    fail_fields_.clear();
    if (has_chain()) {
        medit.fields = {};
        run_response_chain(err.status());
        if (medit.replace) {
            end_call();
            co_return co_await send_full(*medit.replace);
        }
        for (auto& [k, v] : medit.add)
            if (middleware::valid_header_value(v)) fail_fields_.emplace_back(std::string(k), v);
    }
    auto message = failure_message(err);
    end_call();
    co_return co_await send_error(err.status(), message, fail_fields_);
}

// The error's text for the client (and Retry-After while a breaker stays open).
std::string exchange::failure_message(const upstream_error& err) {
    const auto& name = call_->def().name;
    switch (err.kind) {
        case failure::no_endpoint: return "no endpoints available for upstream '" + name + "'";
        case failure::no_healthy: return "no healthy endpoint for upstream '" + name + "'";
        case failure::over_limit:
            return "upstream '" + name + "' is at its limit " + upstream::to_string(static_cast<upstream::limit_kind>(err.limit));
        case failure::breaker_open: {
            // Retry-After: the time the breaker stays open, rounded up to whole seconds.
            auto* b = call_->def().health->breaker();
            auto left = b ? b->open_left(net::clock::now()) : std::chrono::nanoseconds(0);
            auto secs = std::max<std::int64_t>(
                1, std::chrono::duration_cast<std::chrono::seconds>(left + std::chrono::nanoseconds(999'999'999)).count());
            fail_fields_.emplace_back("Retry-After", std::to_string(secs));
            return "upstream '" + name + "' is unavailable (circuit breaker open)";
        }
        default: return std::string(err.message());
    }
}

}  // namespace gatehouse::http
