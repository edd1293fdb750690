// The client's request proxied: prepared (upstream head, body framing, the call's options), sent
// through an upstream::call (upstream/call.cpp: admission, endpoints, retries, outcomes), and
// its response relayed to the client. proxy() answers with the call's error when it failed, or
// with the route's fallback. Bodies move through the connection's fixed buffers, so memory
// stays flat whatever their size.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "http1/status_line.hpp"
#include "upstream/load_balancer.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"
#include "http1/upstream_request.hpp"
#include "http/mirror.hpp"
#include "observability/log_limit.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::http1 {

using namespace std::string_view_literals;
using upstream::failure;
using upstream::upstream_error;

namespace {

void append_hex(std::string& out, std::size_t n) {
    char buf[20];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
    out.append(buf, p);
}

// A request body this small that arrived whole with its head is kept until the response head
// is in, so the request can be resent on a fresh connection (the io_buffer caps it anyway).
constexpr std::uint64_t k_replay_limit = 64 * 1024;

}  // namespace

asio::awaitable<bool> client_connection::proxy(const router::compiled_route& route, std::size_t head_len) {
    upstream_request ur(*this);
    if (auto st = prepare_upstream(ur, route, head_len); st != 0) co_return co_await send_error(st, "malformed request head", true);
    if (route.mirror_index != static_cast<std::size_t>(-1)) maybe_mirror(ur, route);
    upstream_error err;
    for (;;) {
        err = ur.call->admit();
        if (!err) err = co_await ur.call->tries(ur);
        // fallback: the breaker is open or no endpoint is usable; never after bytes were sent.
        const bool falls_back = err.kind == failure::breaker_open || err.kind == failure::no_endpoint || err.kind == failure::no_healthy;
        if (!falls_back || !route.config.fallback || ur.fell_back) break;
        ur.fell_back = true;
        if (route.fallback_index == static_cast<std::size_t>(-1)) {
            release_kept_body(ur);
            note_call(ur);
            note_local_error(ur, err);
            must_close_ = !ur.client_keep_alive || !ur.body_done;
            bool ok = co_await ex_.send_respond(*route.config.fallback->respond);
            co_return ok && !must_close_;
        }
        ur.call->retarget(w_.cluster_for(*ex_.snap, route.fallback_index));
    }
    note_call(ur);
    release_kept_body(ur);  // no resend from here on
    if (err) co_return co_await fail_upstream(ur, err);
    // Not a conditional expression over two co_awaits: GCC 12 may run both branches.
    bool keep = false;
    if (resp_.status == 101) {
        ur.call->record_answer();  // the tunnel's lifetime is not the upstream's response time
        keep = co_await tunnel(ur, route);
    } else {
        keep = co_await relay_response(ur);
    }
    ur.call->finish(false);  // a no-op unless the relay was cut
    ex_.upstream_ms = ur.call->elapsed_ms();
    co_return keep;
}

int client_connection::prepare_upstream(upstream_request& ur, const router::compiled_route& route, std::size_t head_len) {
    const auto& limits = ex_.snap->config.limits;
    auto cluster = w_.cluster_for(*ex_.snap, chosen_upstream_ = choose_upstream(route));
    const auto& def = cluster->def();
    auto o = call_options_for(route);  // before req_'s views die
    ur.timeout = o.timeout;
    ur.idle_timeout = route.config.upstream_idle_timeout.value_or(limits.upstream_idle_timeout);
    choose_hash_key(def, o);
    ur.is_head = head_request_;
    ur.framing = req_.framing;
    ur.content_length = req_.content_length;
    ur.expect_continue = req_.expect_continue;
    ur.version = req_.version;
    ur.client_keep_alive = req_.keep_alive;
    ur.has_body = ur.framing != body_framing::none;
    ur.body_done = !ur.has_body;
    if (ur.framing == body_framing::chunked && !start_chunked_decoder(ur, route, head_len)) return 400;
    note_upgrade(route, ur.has_body);
    build_upstream_head(route);
    buf_.consume(head_len);  // from here on req_'s views are dead
    ur.replayable = !ur.has_body || (ur.framing == body_framing::content_length && !ur.expect_continue &&
                                     ur.content_length <= k_replay_limit && ur.content_length <= buf_.size());
    if (o.retryable) o.retryable = ur.replayable && (!ur.has_body || ur.content_length <= o.retry->buffer_body);
    o.replayable = ur.replayable;
    o.allow_switch = !upgrade_.empty();
    ex_.trace_upstream(o, up_head_, cluster->def().name);
    ur.call.emplace(std::move(cluster), o, resp_);
    return 0;
}

// What every call of this request starts from: the route's timeout and retry policy (retryable:
// the policy retries this method; the body may still forbid it), HEAD, the scanner's limits.
upstream::call_options client_connection::call_options_for(const router::compiled_route& route) {
    upstream::call_options o;
    o.timeout = route.config.timeout.value_or(ex_.snap->config.limits.request_timeout);
    o.is_head = head_request_;
    o.random = w_.random();
    o.limits = ex_.snap->scan_limits;
    if (const auto& retry = route.config.retry) {
        o.retry = &*retry;
        o.retry_stats = ex_.snap->retry_counts[route.index].get();
        o.retryable = std::find(retry->methods.begin(), retry->methods.end(), req_.method) != retry->methods.end();
    }
    return o;
}

// ring_hash: the key the endpoint is chosen by (the client's address, or a field's value).
void client_connection::choose_hash_key(const upstream::cluster& def, upstream::call_options& o) const {
    if (def.lb.policy != config::lb_policy::ring_hash) return;
    if (def.lb.hash_on == config::lb_config::hash_source::client_ip) {
        o.hash_key = upstream::hash64(peer_text_);
        o.has_key = true;
        return;
    }
    for (auto& f : req_.fields)
        if (iequals(f.name, def.lb.hash_header)) {
            o.hash_key = upstream::hash64(f.value);
            o.has_key = true;
            return;
        }
}

// Beast decodes the chunked body; it must see the head first (our scanner has already been
// stricter than it about the head). false: it refused the head.
bool client_connection::start_chunked_decoder(upstream_request& ur, const router::compiled_route& route, std::size_t head_len) {
    const auto& limits = ex_.snap->config.limits;
    ur.req_decoder.emplace();
    ur.req_decoder->header_limit(static_cast<std::uint32_t>(head_len + 1));
    ur.req_decoder->body_limit(route.config.max_body_bytes.value_or(limits.max_body_bytes));
    ur.req_decoder->sink = &body_out_;
    ur.req_decoder->trailer_limits(limits.max_headers, limits.max_header_bytes);
    boost::beast::error_code ec;
    ur.req_decoder->feed(buf_.data().substr(0, head_len), ec);
    if (ec || !ur.req_decoder->is_header_done()) return false;
    ur.req_decoder->eager(true);  // from here on, one feed() decodes everything buffered
    return true;
}

// RFC 9110 §7.8: the client asks to switch; on a route that allows the protocol the request goes
// on with Connection: upgrade, and the tunnel opens only on a 101 (upgrade_ keeps the value).
void client_connection::note_upgrade(const router::compiled_route& route, bool has_body) {
    upgrade_.clear();
    if (route.config.upgrades.empty() || has_body || req_.connection.empty() || !list_contains(req_.connection, "upgrade")) return;
    for (auto& f : req_.fields)
        if (f.name.size() == 7 && iequals(f.name, "upgrade")) {
            auto proto = f.value.substr(0, f.value.find_first_of("/, \t"));
            for (auto& allowed : route.config.upgrades)
                if (iequals(proto, allowed)) upgrade_.assign(f.value);
            return;
        }
}

// routes[].mirror: a copy to the shadow upstream for `percent` of the requests (http/mirror.cpp).
void client_connection::maybe_mirror(const upstream_request& ur, const router::compiled_route& route) {
    const auto& counts = ex_.snap->mirror_counts[route.index];
    if (!counts || static_cast<double>(w_.random() % 10000) >= route.config.mirror->percent * 100) return;
    if (!ur.replayable) {  // the body is not all here: it is streamed to the one real upstream only
        counts->skipped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::string copy = up_head_;
    if (ur.has_body) copy += buf_.data().substr(0, static_cast<std::size_t>(ur.content_length));
    upstream::call_options o;  // no retries: a shadow gets one try (and the move past a failed connect)
    o.timeout = ur.timeout;
    o.replayable = true;
    o.is_head = ur.is_head;
    o.random = w_.random();
    o.limits = ex_.snap->scan_limits;
    start_mirror(w_.ioc(), w_.cluster_for(*ex_.snap, route.mirror_index), std::move(copy), o, counts);
}

// The route's upstream, or one of its split by weight: at random, or by the sticky key's hash
// (the same key lands on the same upstream while the weights stay).
std::size_t client_connection::choose_upstream(const router::compiled_route& route) {
    if (route.split.empty()) return route.upstream_index;
    const auto total = route.split.back().second;
    std::uint64_t point;
    std::optional<std::string_view> key;
    const auto& on = route.config.split_on;
    if (on.from == config::split_key::kind::header) {
        for (auto& f : req_.fields)
            if (iequals(f.name, on.name)) {
                key = f.value;
                break;
            }
    } else if (on.from == config::split_key::kind::cookie) {
        key = find_cookie(req_.fields, on.name);
    }
    point = (key ? upstream::hash64(*key) : w_.random()) % total;
    for (auto& [index, cumulative] : route.split)
        if (point < cumulative) return index;
    return route.split.back().first;
}

asio::awaitable<upstream_error> upstream_request::send(upstream::upstream_connection& uc, net::clock::duration t) {
    timeout = t;
    return conn.send_request(*this, uc);
}

asio::awaitable<upstream::interim_result> upstream_request::interim(const response_head& head) {
    // Interim answers go on to HTTP/1.1 clients before the final one (RFC 9110 §15.2): 103
    // Early Hints and the like; 100 only to a client that asked and has not had ours. An
    // HTTP/1.0 client cannot take them.
    const bool pass = version >= 11 && (head.status != 100 || (expect_continue && !sent_continue));
    if (!pass) co_return upstream::interim_result::dropped;
    conn.build_interim_head(head);
    if (!co_await conn.write_client(conn.out_)) co_return upstream::interim_result::caller_gone;
    if (head.status == 100) sent_continue = true;
    co_return upstream::interim_result::passed;
}

// Phase 3 of the call: the head, with whatever body bytes already arrived (one write for small
// requests), then the rest of the body as it comes.
asio::awaitable<upstream_error> client_connection::send_request(upstream_request& ur, upstream::upstream_connection& uc) {
    const bool stale = uc.reused;
    std::string_view early;
    if (ur.framing == body_framing::content_length && !ur.expect_continue)
        early = buf_.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(ur.content_length, buf_.size())));
    uc.timer.arm(ur.timeout);
    auto [wec, wn] = co_await uc.io.write(up_head_, early);
    if (wec) co_return upstream_error{failure::write, stale};
    ur.early = early.size();
    if (ur.replayable) ur.kept = early.size();  // stays in buf_ until the response head is in
    else {
        buf_.consume(early.size());
        ex_.bytes_in += early.size();
    }
    ex_.upstream_name = ur.call->def().name;
    if (!ur.has_body || ur.body_done) co_return upstream_error{};
    if (ur.framing == body_framing::content_length && ur.early == ur.content_length) {
        ur.body_done = true;
        co_return upstream_error{};
    }
    if (ur.expect_continue && buf_.empty()) {
        ur.sent_continue = true;
        if (!co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) co_return upstream_error{failure::client_gone};
    }
    upstream_error err;  // not a conditional expression over two co_awaits (GCC 12)
    if (ur.framing == body_framing::content_length) err = co_await send_sized_body(ur, uc);
    else err = co_await send_chunked_body(ur, uc);
    if (!err) ur.body_done = true;
    co_return err;
}

// More of the request body: limits.body_timeout is the longest pause between two reads, and
// limits.body_min_rate bounds the whole body: it may take body_timeout plus one second per
// body_min_rate bytes received (Apache's mod_reqtimeout), so a trickle that never pauses long
// enough for the idle deadline still ends (HTTP-EDGE-CASES.md: slow POST).
asio::awaitable<io_status> client_connection::read_body(upstream_request& ur) {
    const auto& limits = ex_.snap->config.limits;
    auto timeout = limits.body_timeout;
    if (limits.body_min_rate != 0) {
        if (ur.body_start == net::clock::time_point{}) ur.body_start = net::clock::now();
        auto earned = std::chrono::duration_cast<net::clock::duration>(
            std::chrono::duration<double>(static_cast<double>(ur.body_read) / static_cast<double>(limits.body_min_rate)));
        auto left = ur.body_start + limits.body_timeout + earned - net::clock::now();
        if (left <= net::clock::duration::zero()) co_return io_status::timeout;
        timeout = std::min(timeout, std::chrono::duration_cast<config::duration>(left) + std::chrono::milliseconds(1));
    }
    auto before = buf_.size();
    auto st = co_await read_more(timeout);
    if (buf_.size() > before) ur.body_read += buf_.size() - before;
    co_return st;
}

asio::awaitable<upstream_error> client_connection::send_sized_body(upstream_request& ur, upstream::upstream_connection& uc) {
    std::uint64_t remaining = ur.content_length - ur.early;
    while (remaining > 0) {
        if (buf_.empty()) {
            auto st = co_await read_body(ur);
            if (st == io_status::timeout) co_return upstream_error{failure::client_timeout};
            if (st != io_status::ok) co_return upstream_error{failure::client_gone};  // the lease closes the upstream side
        }
        auto chunk = buf_.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buf_.size())));
        uc.timer.arm(ur.timeout);
        auto [ec, n] = co_await uc.io.write(chunk);
        if (ec) co_return upstream_error{failure::write};
        buf_.consume(chunk.size());
        ex_.bytes_in += chunk.size();
        remaining -= chunk.size();
    }
    co_return upstream_error{};
}

asio::awaitable<upstream_error> client_connection::send_chunked_body(upstream_request& ur, upstream::upstream_connection& uc) {
    auto& dec = *ur.req_decoder;
    for (;;) {
        body_out_.clear();
        boost::beast::error_code ec;
        std::size_t used = buf_.empty() ? 0 : dec.feed(buf_.data(), ec);
        buf_.consume(used);
        ex_.bytes_in += used;
        if (buf_.empty() && !dec.is_done() && !ec) ec = boost::beast::http::error::need_more;
        if (ec && ec != boost::beast::http::error::need_more) {
            if (ec == boost::beast::http::error::body_limit) co_return upstream_error{failure::body_too_large};
            if (dec.trailer_too_large) co_return upstream_error{failure::trailers};
            co_return upstream_error{failure::bad_body};
        }
        if (!body_out_.empty()) {
            out_.clear();
            append_hex(out_, body_out_.size());
            out_ += "\r\n"sv;
            body_out_ += "\r\n"sv;
            uc.timer.arm(ur.timeout);
            auto [wec, n] = co_await uc.io.write(out_, body_out_);
            if (wec) co_return upstream_error{failure::write};
        }
        if (dec.is_done()) break;
        if (ec == boost::beast::http::error::need_more) {
            if (buf_.full()) co_return upstream_error{failure::bad_body};  // a chunk header larger than the buffer
            auto st = co_await read_body(ur);
            if (st == io_status::timeout) co_return upstream_error{failure::client_timeout};
            if (st != io_status::ok) co_return upstream_error{failure::client_gone};  // no last-chunk: the upstream request is aborted
        }
    }
    // The last chunk, with the client's trailers (validated by the decoder).
    out_.assign("0\r\n"sv);
    out_ += dec.trailer_lines();
    out_ += "\r\n"sv;
    uc.timer.arm(ur.timeout);
    auto [wec, n] = co_await uc.io.write(out_);
    if (wec) co_return upstream_error{failure::write};
    co_return upstream_error{};
}

void client_connection::release_kept_body(upstream_request& ur) {
    buf_.consume(ur.kept);
    ex_.bytes_in += ur.kept;
    ur.kept = 0;
}

asio::awaitable<bool> client_connection::fail_upstream(upstream_request& ur, const upstream_error& err) {
    ur.call->drop_connection();
    release_kept_body(ur);
    if (err.kind == failure::client_gone) {
        // nginx's 499: recorded and logged as such, with the client as the error's source.
        ex_.status = 499;
        ex_.error_source = "client";
        if (listener_->stats) listener_->stats->at(w_.id()).aborts_request.add();
        co_return false;
    }
    note_local_error(ur, err);
    // The rest of a request body that was not read makes the connection unusable.
    const bool close = !ur.client_keep_alive || !ur.body_done || err.from_client();
    // The chain sees gatehouse's own answer: it may add fields (CORS, Cache-Status, RateLimit)
    // or send another answer instead (a cache's stale entry under stale-if-error).
    std::vector<std::pair<std::string, std::string>> extra;
    if (ex_.route_chain || ex_.listener_chain) {
        ex_.medit.fields = {};
        ex_.run_response_chain(err.status());
        if (ex_.medit.replace) {
            must_close_ = close;
            bool ok = co_await ex_.send_full(*ex_.medit.replace);
            co_return ok && !close;
        }
        for (auto& [k, v] : ex_.medit.add)
            if (middleware::valid_header_value(v)) extra.emplace_back(std::string(k), v);
    }
    const auto& name = ur.call->def().name;
    switch (err.kind) {
        case failure::no_endpoint: co_return co_await send_error(503, "no endpoints available for upstream '" + name + "'", close, extra);
        case failure::no_healthy: co_return co_await send_error(503, "no healthy endpoint for upstream '" + name + "'", close, extra);
        case failure::over_limit: {
            std::string msg = "upstream '" + name + "' is at its limit " +
                              upstream::to_string(static_cast<upstream::limit_kind>(err.limit));
            co_return co_await send_error(503, msg, close, extra);
        }
        case failure::breaker_open: {
            // Retry-After: the time the breaker stays open, rounded up to whole seconds.
            auto* b = ur.call->def().health->breaker();
            auto left = b ? b->open_left(net::clock::now()) : std::chrono::nanoseconds(0);
            auto secs = std::max<std::int64_t>(
                1, std::chrono::duration_cast<std::chrono::seconds>(left + std::chrono::nanoseconds(999'999'999)).count());
            extra.emplace_back("Retry-After", std::to_string(secs));
            co_return co_await send_error(503, "upstream '" + name + "' is unavailable (circuit breaker open)", close, extra);
        }
        default: co_return co_await send_error(err.status(), err.message(), close, extra);
    }
}

// What the access log says about the call's tries.
void client_connection::note_call(const upstream_request& ur) {
    ex_.upstream_attempts = ur.call->attempts();
    if (auto ep = ur.call->endpoint(); !ep.empty()) ex_.upstream_addr.assign(ep);
}

// What the access log and metrics say about an answer gatehouse made instead of the upstream.
void client_connection::note_local_error(upstream_request& ur, const upstream_error& err) {
    ex_.upstream_name = ur.call->def().name;
    ex_.error_source = err.local() ? "gatehouse" : err.from_client() ? "client" : "upstream_failure";
}

// Phase 5: the response, streamed to the client; the connection goes back to the pool only if
// the response was complete and clean. Its upstream metrics are recorded however it ends.
asio::awaitable<bool> client_connection::relay_response(upstream_request& ur) {
    auto& uc = ur.call->conn();
    ex_.upstream_status = resp_.status;
    if (resp_.status >= 400) ex_.error_source = "upstream";
    const auto resp_framing = resp_.framing;
    ex_.run_response_chain(resp_.status, resp_.fields);
    if (ex_.medit.replace) co_return co_await relay_replacement(ur);
    auto* tap = ur.is_head ? nullptr : ex_.medit.tap;
    // A body filter (compression) re-frames the body: chunked to HTTP/1.1, close-delimited to 1.0.
    const bool filtered = ex_.medit.body != nullptr && !ur.is_head;
    const bool delimited = filtered || resp_framing == body_framing::chunked || resp_framing == body_framing::until_close;
    const bool chunked_to_client = delimited && ur.version == 11;
    const bool close = !ur.client_keep_alive || w_.draining() || (delimited && ur.version == 10);
    std::optional<body_decoder<false>> resp_decoder;
    if (resp_framing == body_framing::chunked && !start_response_decoder(ur, resp_decoder, filtered))
        co_return co_await send_error(502, "invalid upstream response", !ur.client_keep_alive);
    uc.buf.consume(ur.call->head_len());
    // A response that is already complete in the upstream buffer (no body, or a small body that
    // arrived with the head) is copied out and its connection goes back to the pool before the
    // client write: the next request can reuse it at once, whatever the client does.
    constexpr std::uint64_t k_copy_limit = 8 * 1024;  // larger bodies are written from the buffer
    if (resp_framing == body_framing::none ||
        (resp_framing == body_framing::content_length && resp_.content_length <= std::min<std::uint64_t>(k_copy_limit, uc.buf.size()))) {
        bool close_after = close;
        if (!copy_whole_response(ur, filtered, close_after)) co_return co_await send_error(502, "response body filter failed", true);
        co_return co_await write_client(out_) && !close_after;
    }
    build_client_head(resp_, close);
    // Not a conditional expression over the three co_awaits: GCC 12 miscompiles that shape
    // (more than one branch ran and the head went out twice).
    auto* dec = resp_decoder ? &*resp_decoder : nullptr;
    bool complete = false;
    if (filtered) complete = co_await relay_filtered_body(ur, dec, chunked_to_client);
    else if (resp_framing == body_framing::content_length) complete = co_await relay_sized_body(ur);
    else complete = co_await relay_delimited_body(ur, dec, chunked_to_client);
    if (!complete) co_return false;  // truncated either side: the client sees the connection close, never a fake end
    if (tap) tap->end();
    ur.call->finish(resp_framing != body_framing::until_close && resp_.keep_alive && uc.buf.empty());
    co_return !close;
}

bool client_connection::start_response_decoder(upstream_request& ur, std::optional<body_decoder<false>>& dec, bool filtered) {
    auto& uc = ur.call->conn();
    dec.emplace();
    dec->header_limit(static_cast<std::uint32_t>(ur.call->head_len() + 1));
    dec->body_limit(boost::none);
    dec->sink = filtered ? &plain_ : &body_out_;
    dec->trailer_limits(ex_.snap->config.limits.max_headers, ex_.snap->config.limits.max_header_bytes);
    boost::beast::error_code ec;
    dec->feed(uc.buf.data().substr(0, ur.call->head_len()), ec);
    if (ec || !dec->is_header_done()) return false;
    dec->eager(true);
    return true;
}

// The whole response is in the upstream buffer: head and body into out_ (through the body filter
// when there is one: its length is known then, so an HTTP/1.0 client keeps its connection too),
// and the upstream connection goes back to the pool. false: the filter failed.
bool client_connection::copy_whole_response(upstream_request& ur, bool filtered, bool& close) {
    auto& uc = ur.call->conn();
    auto body = resp_.framing == body_framing::none ? std::string_view{}
                                                    : uc.buf.data().substr(0, static_cast<std::size_t>(resp_.content_length));
    if (auto* tap = ur.is_head ? nullptr : ex_.medit.tap) {
        tap->data(body);
        tap->end();
    }
    if (filtered) {
        body_out_.clear();
        if (!ex_.medit.body->filter(body, true, body_out_)) return false;
        close = !ur.client_keep_alive || w_.draining();
        build_client_head(resp_, close, body_out_.size());
        out_ += body_out_;
    } else {
        build_client_head(resp_, close);
        out_.append(body.data(), body.size());
    }
    uc.buf.consume(body.size());
    ur.call->finish(resp_.keep_alive && uc.buf.empty());
    return true;
}

// A middleware answers instead of the upstream (a stored response after a 304): the upstream's
// body is dropped (its connection is kept only when there was none, or all of it is here).
asio::awaitable<bool> client_connection::relay_replacement(upstream_request& ur) {
    auto& uc = ur.call->conn();
    uc.buf.consume(ur.call->head_len());
    const bool whole = resp_.framing == body_framing::none ||
                       (resp_.framing == body_framing::content_length && resp_.content_length <= uc.buf.size());
    if (whole) uc.buf.consume(resp_.framing == body_framing::none ? 0 : static_cast<std::size_t>(resp_.content_length));
    ur.call->finish(whole && resp_.keep_alive && uc.buf.empty());
    const bool close = !ur.client_keep_alive || w_.draining();
    must_close_ = close;
    bool ok = co_await ex_.send_full(*ex_.medit.replace);
    co_return ok && !close;
}

asio::awaitable<bool> client_connection::relay_sized_body(upstream_request& ur) {
    auto& uc = ur.call->conn();
    std::uint64_t remaining = resp_.content_length;
    auto first = uc.buf.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(remaining, uc.buf.size())));
    auto* tap = ur.is_head ? nullptr : ex_.medit.tap;
    if (tap) tap->data(first);
    if (!co_await write_client(out_, first)) co_return false;
    uc.buf.consume(first.size());
    remaining -= first.size();
    while (remaining > 0) {
        auto [ptr, room] = uc.buf.prepare(65536);
        uc.timer.arm(ur.idle_timeout);
        auto [ec, n] = co_await uc.io.read_some(ptr, static_cast<std::size_t>(std::min<std::uint64_t>(room, remaining)));
        if (ec) co_return false;
        uc.buf.commit(n);
        auto chunk = uc.buf.data();
        if (tap) tap->data(chunk);
        if (!co_await write_client(chunk)) co_return false;
        uc.buf.consume(chunk.size());
        remaining -= chunk.size();
    }
    co_return true;
}

// What goes to the client next, in out_ (the held head, until it was written) and body_out_
// (the piece, chunk-framed for an HTTP/1.1 client, and the last chunk with trailers at the end).
void client_connection::frame_for_client(bool head_written, bool done, const body_decoder<false>* dec, bool chunked_to_client) {
    out_.resize(head_written ? 0 : out_.size());
    if (!body_out_.empty() && chunked_to_client) {
        append_hex(out_, body_out_.size());
        out_ += "\r\n"sv;
        body_out_ += "\r\n"sv;
    }
    if (done && chunked_to_client) append_last_chunk(body_out_, dec);
}

// chunked or until_close: decode (or pass through) and re-frame for this client.
asio::awaitable<bool> client_connection::relay_delimited_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client) {
    auto& uc = ur.call->conn();
    auto* tap = ur.is_head ? nullptr : ex_.medit.tap;
    bool head_written = false;
    for (;;) {
        body_out_.clear();
        bool done = false;
        if (dec) {
            boost::beast::error_code ec;
            std::size_t used = uc.buf.empty() ? 0 : dec->feed(uc.buf.data(), ec);
            uc.buf.consume(used);
            if (ec && ec != boost::beast::http::error::need_more) {
                observability::warn_limited(ur.call->def().name, "upstream {}: malformed chunked response body", ur.call->def().name);
                if (!head_written) co_await send_error(502, "invalid upstream response", true);
                co_return false;
            }
            done = dec->is_done();
        } else {
            auto d = uc.buf.data();
            body_out_.append(d.data(), d.size());
            uc.buf.consume(d.size());
        }
        if (tap && !body_out_.empty()) tap->data(body_out_);
        frame_for_client(head_written, done, dec, chunked_to_client);
        if (!out_.empty() || !body_out_.empty()) {
            if (!co_await write_client(out_, body_out_)) co_return false;
            head_written = true;
        }
        if (done) co_return true;
        auto [ptr, room] = uc.buf.prepare(16384);
        if (room == 0) co_return false;
        uc.timer.arm(ur.idle_timeout);
        auto [ec, n] = co_await uc.io.read_some(ptr, room);
        if (ec) {
            if (!dec && ec == asio::error::eof) {
                if (chunked_to_client) {
                    body_out_.clear();
                    append_last_chunk(body_out_, nullptr);
                    if (!co_await write_client(body_out_)) co_return false;
                }
                co_return true;  // the end of a close-delimited body
            }
            co_return false;  // truncated: close, no fabricated completion
        }
        uc.buf.commit(n);
    }
}

// The body through a middleware's filter (compression), whatever its upstream framing; what
// the filter yields goes out chunked (HTTP/1.1) or close-delimited (HTTP/1.0).
asio::awaitable<bool> client_connection::relay_filtered_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client) {
    auto& uc = ur.call->conn();
    auto* filter = ex_.medit.body;
    const bool sized = resp_.framing == body_framing::content_length;
    std::uint64_t remaining = sized ? resp_.content_length : 0;
    bool head_written = false, eof = false;
    for (;;) {
        // What of the body arrived, decoded: the filter's input.
        std::string_view in;
        std::size_t used = 0;
        bool done = false;
        if (dec) {
            plain_.clear();
            boost::beast::error_code ec;
            used = uc.buf.empty() ? 0 : dec->feed(uc.buf.data(), ec);
            if (ec && ec != boost::beast::http::error::need_more) {
                observability::warn_limited(ur.call->def().name, "upstream {}: malformed chunked response body", ur.call->def().name);
                if (!head_written) co_await send_error(502, "invalid upstream response", true);
                co_return false;
            }
            in = plain_;
            done = dec->is_done();
        } else {
            used = sized ? static_cast<std::size_t>(std::min<std::uint64_t>(remaining, uc.buf.size())) : uc.buf.size();
            in = uc.buf.data().substr(0, used);
            remaining -= sized ? used : 0;
            done = sized ? remaining == 0 : eof;
        }
        if (ex_.medit.tap && !in.empty()) ex_.medit.tap->data(in);
        body_out_.clear();
        const bool ok = filter->filter(in, done, body_out_);
        uc.buf.consume(used);
        if (!ok) co_return false;
        frame_for_client(head_written, done, dec, chunked_to_client);
        if (!out_.empty() || !body_out_.empty()) {
            if (!co_await write_client(out_, body_out_)) co_return false;
            head_written = true;
        }
        if (done) co_return true;
        auto [ptr, room] = uc.buf.prepare(sized ? 65536 : 16384);
        if (room == 0) co_return false;
        uc.timer.arm(ur.idle_timeout);
        auto [ec, n] = co_await uc.io.read_some(ptr, sized ? static_cast<std::size_t>(std::min<std::uint64_t>(room, remaining)) : room);
        if (ec) {
            if (!dec && !sized && ec == asio::error::eof) {
                eof = true;  // the end of a close-delimited body: the filter finishes on the next round
                continue;
            }
            co_return false;  // truncated: close, no fabricated completion
        }
        uc.buf.commit(n);
    }
}

}  // namespace gatehouse::http1
