// One request to an upstream, as named phases (DESIGN §9, Pingora's lesson):
//   pick endpoint -> acquire/connect -> send head + body -> read response head -> relay -> release
// Each phase returns an upstream::upstream_error (none, or where and why it failed); proxy()
// is the policy over them: try another endpoint when nothing was sent, resend on a fresh
// connection when a reused one turned out dead before any response byte and the request can be
// replayed, otherwise answer with the error's status. Bodies move through the connection's
// fixed buffers, so memory stays flat whatever their size.
#include <spdlog/spdlog.h>

#include <charconv>
#include <string_view>

#include "gatehouse/http/error_reply.hpp"
#include "gatehouse/upstream/load_balancer.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "http/body_decoder.hpp"
#include "http/connection.hpp"
#include "http/upstream_request.hpp"
#include "http/mirror.hpp"
#include "observability/log_limit.hpp"
#include "upstream/connect.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::http {

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

// `Keep-Alive: timeout=N` (RFC 2068 §19.7.1, still sent by Node.js, Apache, ...): the upstream
// closes idle connections after N seconds; reuse them for a little less than that.
std::optional<net::clock::duration> keep_alive_timeout(const response_head& r) {
    for (auto& f : r.fields) {
        if (!iequals(f.name, "keep-alive")) continue;
        auto v = f.value;
        auto at = v.find("timeout=");
        if (at == std::string_view::npos) return std::nullopt;
        v.remove_prefix(at + 8);
        unsigned n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc{}) return std::nullopt;
        using namespace std::chrono_literals;
        return n <= 1 ? net::clock::duration(500ms) : net::clock::duration(std::chrono::seconds(n) - 500ms);
    }
    return std::nullopt;
}

}  // namespace


asio::awaitable<bool> client_connection::proxy(const router::compiled_route& route, std::size_t head_len) {
    upstream_request ur;
    if (auto st = prepare_upstream(ur, route, head_len); st != 0) co_return co_await send_error(st, "malformed request head", true);
    if (route.mirror_index != static_cast<std::size_t>(-1)) maybe_mirror(ur, route);
    upstream_error err;
    for (;;) {
        err = admit(ur);
        if (!err) err = co_await try_upstream(ur, route);
        // fallback: the breaker is open or no endpoint is usable; never after bytes were sent.
        const bool falls_back = err.kind == failure::breaker_open || err.kind == failure::no_endpoint || err.kind == failure::no_healthy;
        if (!falls_back || !route.config.fallback || ur.fell_back) break;
        ur.fell_back = true;
        if (route.fallback_index == static_cast<std::size_t>(-1)) {
            release_kept_body(ur);
            note_local_error(ur, err);
            co_return co_await respond_with(*route.config.fallback->respond, !ur.client_keep_alive || !ur.body_done);
        }
        ur.request_slot.reset();  // before the cluster (and the counters it keeps) may go
        ur.retry_slot.reset();
        if (ur.probe) std::exchange(ur.probe, nullptr)->abandon_probe();
        ur.ls.done(false);
        ur.cluster = w_.cluster_for(*snap_, route.fallback_index);
        ur.avoid = upstream::k_no_endpoint;
    }
    release_kept_body(ur);  // no resend from here on
    if (err) co_return co_await fail_upstream(ur, err);
    if (resp_.status == 101) co_return co_await tunnel(ur, route);
    co_return co_await relay_response(ur);
}

// Before any endpoint is picked: the breaker (fast 503 while open; half_open lets a few probes
// through) and limits.max_requests, both over every worker.
upstream_error client_connection::admit(upstream_request& ur) {
    auto& def = ur.cluster->def();
    auto& h = *def.health;
    ur.request_slot.reset();
    if (ur.probe) std::exchange(ur.probe, nullptr)->abandon_probe();
    if (auto* b = h.breaker()) {
        auto a = b->admit(net::clock::now());
        if (a == upstream::circuit_breaker::admission::reject) {
            h.count_failure(failure::breaker_open);
            return upstream_error{failure::breaker_open};
        }
        if (a == upstream::circuit_breaker::admission::probe) ur.probe = b;
    }
    if (!h.try_acquire(h.requests, upstream::limit_kind::max_requests)) {
        h.count_failure(failure::over_limit);
        upstream_error e{failure::over_limit};
        e.limit = static_cast<std::uint8_t>(upstream::limit_kind::max_requests);
        return e;
    }
    ur.request_slot.hold(h.requests);
    return {};
}

// The tries of one request on one upstream: the phases, then the route's retry policy over
// what they returned (routes[].retry). A try that gets a response head the policy does not
// retry is the answer; so is the last one.
asio::awaitable<upstream_error> client_connection::try_upstream(upstream_request& ur, const router::compiled_route& route) {
    const auto* retry = route.config.retry ? &*route.config.retry : nullptr;
    unsigned retries = 0;
    for (int attempt = 0;; ++attempt) {
        ur.timeout = try_timeout(ur, retry);
        // The first two phases finish without suspending in the common case (an endpoint has
        // room, a pooled connection is idle): no coroutine frame for them then.
        upstream_error err;
        if (auto picked = pick_endpoint(ur, attempt)) err = *picked;
        else err = co_await wait_for_endpoint(ur);
        if (!err && !lease_pooled(ur, attempt > 0)) err = co_await connect_upstream(ur);
        if (!err) err = co_await send_request(ur);
        if (!err) err = co_await read_response_head(ur);
        if (err && err.stale_connection && ur.replayable && !ur.resent) {
            ur.resent = true;  // the keep-alive race: once more on a fresh connection, not a retry
            ur.ls.done(false);
            continue;
        }
        const upstream::attempt_outcome outcome{err.kind, err ? 0 : resp_.status};
        record_outcome(ur, outcome);
        // Without a retry policy, a connect failure still moves on to another endpoint once:
        // nothing was sent.
        const bool wants = retry ? upstream::matches(retry->on, outcome) : err.nothing_sent() && attempt == 0 && ur.cluster->size() > 1;
        if (!wants || !may_retry(ur, retry, retries, outcome)) {
            ur.retry_slot.reset();
            co_return err;
        }
        ur.ls.done(false);  // a response we do not relay is not read: its connection closes
        ur.avoid = ur.ep;   // elsewhere when there is an elsewhere
        if (retry) co_await backoff_before(retry, retries);
        ++retries;
    }
}

// This try's timeout: per_try_timeout if set, within what is left of the route's.
net::clock::duration client_connection::try_timeout(const upstream_request& ur, const config::retry_config* retry) const {
    auto left = ur.until - net::clock::now();
    if (retry && retry->per_try_timeout) left = std::min<net::clock::duration>(left, *retry->per_try_timeout);
    return std::max<net::clock::duration>(left, std::chrono::milliseconds(1));
}

// The breaker and the endpoint's outlier detection learn what a try came to (local refusals
// and the client's own failures teach them nothing).
void client_connection::record_outcome(upstream_request& ur, const upstream::attempt_outcome& o) {
    upstream_attempts_ = ++ur.attempts;
    auto& h = *ur.cluster->def().health;
    if (o.kind != failure::none) h.count_failure(o.kind);
    if (o.kind != failure::none && upstream::outcome_kind(o.kind) == 0) return;
    if (!h.breaker() && !h.outlier()) return;
    const auto now = net::clock::now();
    if (auto* b = h.breaker()) {
        b->record(now, upstream::matches(b->config().failure, o), ur.probe != nullptr);
        ur.probe = nullptr;
    }
    if (ur.ep_health && h.record(*ur.ep_health, upstream::for_endpoint(o), now))
        spdlog::warn("upstream {}: endpoint {} ejected ({} times so far)", h.name(), ur.ep_health->key, ur.ep_health->ejections.load(std::memory_order_relaxed));
}

// Whether this failed try may be tried again now: the method and body allow it, nothing reached
// the client, attempts and time are left, the budget and limits.max_retries have room, and the
// breaker is not open. Counts the retry (or the exhausted budget).
bool client_connection::may_retry(upstream_request& ur, const config::retry_config* retry, unsigned retries, const upstream::attempt_outcome& o) {
    ur.retry_slot.reset();
    if (!retry) return true;  // the one connect-failure move above
    if (!ur.retryable || ur.client_saw_bytes || retries >= retry->attempts || ur.probe) return false;
    if (net::clock::now() + retry->backoff_base >= ur.until) return false;
    auto& def = ur.cluster->def();
    auto& h = *def.health;
    const auto& counts = snap_->retry_counts[route_->index];
    if (!upstream::within_budget(*retry, h.retries.load(std::memory_order_relaxed), h.requests.load(std::memory_order_relaxed))) {
        counts->budget_exhausted.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    if (!h.try_acquire(h.retries, upstream::limit_kind::max_retries)) return false;
    ur.retry_slot.hold(h.retries);
    if (auto* b = h.breaker()) {
        auto a = b->admit(net::clock::now());
        if (a != upstream::circuit_breaker::admission::pass) {
            if (a == upstream::circuit_breaker::admission::probe) b->abandon_probe();
            return false;
        }
    }
    counts->retries[upstream::retry_reason(o)].fetch_add(1, std::memory_order_relaxed);
    return true;
}

asio::awaitable<void> client_connection::backoff_before(const config::retry_config* retry, unsigned retries) {
    auto wait = upstream::backoff(*retry, retries, w_.random());
    if (wait.count() <= 0) co_return;
    asio::steady_timer t(w_.ioc(), wait);
    co_await t.async_wait(nothrow_awaitable);
}

int client_connection::prepare_upstream(upstream_request& ur, const router::compiled_route& route, std::size_t head_len) {
    const auto& limits = snap_->config.limits;
    ur.cluster = w_.cluster_for(*snap_, chosen_upstream_ = choose_upstream(route));
    const auto& def = ur.cluster->def();
    ur.route_timeout = route.config.timeout.value_or(limits.request_timeout);
    ur.timeout = ur.route_timeout;
    ur.until = net::clock::now() + ur.route_timeout;
    ur.idle_timeout = route.config.upstream_idle_timeout.value_or(limits.upstream_idle_timeout);
    if (def.lb.policy == config::lb_policy::ring_hash) {
        if (def.lb.hash_on == config::lb_config::hash_source::client_ip) {
            ur.hash_key = upstream::hash64(peer_text_);
            ur.has_key = true;
        } else {
            for (auto& f : req_.fields)
                if (iequals(f.name, def.lb.hash_header)) {
                    ur.hash_key = upstream::hash64(f.value);
                    ur.has_key = true;
                    break;
                }
        }
    }
    ur.is_head = req_.method == "HEAD";
    ur.framing = req_.framing;
    ur.content_length = req_.content_length;
    ur.expect_continue = req_.expect_continue;
    ur.version = req_.version;
    ur.client_keep_alive = req_.keep_alive;
    ur.has_body = ur.framing != body_framing::none;
    ur.body_done = !ur.has_body;
    if (ur.framing == body_framing::chunked) {
        // Beast decodes the chunked body; it must see the head first. Our scanner has already
        // been stricter than it about the head.
        ur.req_decoder.emplace();
        ur.req_decoder->header_limit(static_cast<std::uint32_t>(head_len + 1));
        ur.req_decoder->body_limit(route.config.max_body_bytes.value_or(limits.max_body_bytes));
        ur.req_decoder->sink = &body_out_;
        boost::beast::error_code ec;
        ur.req_decoder->put(asio::buffer(buf_.data().data(), head_len), ec);
        if (ec || !ur.req_decoder->is_header_done()) return 400;
        ur.req_decoder->eager(true);  // from here on, one put() decodes everything buffered
    }
    upgrade_.clear();
    if (!route.config.upgrades.empty() && !ur.has_body && !req_.connection.empty() && list_contains(req_.connection, "upgrade")) {
        // RFC 9110 §7.8: the client asks to switch; on a route that allows the protocol the
        // request goes on with Connection: upgrade, and the tunnel opens only on a 101.
        for (auto& f : req_.fields)
            if (f.name.size() == 7 && iequals(f.name, "upgrade")) {
                auto proto = f.value.substr(0, f.value.find_first_of("/, \t"));
                for (auto& allowed : route.config.upgrades)
                    if (iequals(proto, allowed)) upgrade_.assign(f.value);
                break;
            }
    }
    const bool method_retried = route.config.retry && std::find(route.config.retry->methods.begin(), route.config.retry->methods.end(), req_.method) !=
                                                          route.config.retry->methods.end();
    build_upstream_head(route);
    buf_.consume(head_len);  // from here on req_'s views are dead
    ur.replayable = !ur.has_body || (ur.framing == body_framing::content_length && !ur.expect_continue && ur.content_length <= k_replay_limit &&
                                     ur.content_length <= buf_.size());
    if (const auto& retry = route.config.retry) {
        ur.retryable = method_retried && ur.replayable && (!ur.has_body || ur.content_length <= retry->buffer_body);
    }
    return 0;
}

// routes[].mirror: a copy to the shadow upstream for `percent` of the requests (http/mirror.cpp).
void client_connection::maybe_mirror(const upstream_request& ur, const router::compiled_route& route) {
    const auto& counts = snap_->mirror_counts[route.index];
    if (!counts || static_cast<double>(w_.random() % 10000) >= route.config.mirror->percent * 100) return;
    if (!ur.replayable) {  // the body is not all here: it is streamed to the one real upstream only
        counts->skipped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::string copy = up_head_;
    if (ur.has_body) copy += buf_.data().substr(0, static_cast<std::size_t>(ur.content_length));
    start_mirror(w_.ioc(), w_.cluster_for(*snap_, route.mirror_index), std::move(copy), ur.timeout, counts);
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

// Phase 1: an endpoint, or nullopt when every endpoint is at max_connections and the request
// takes a place in the pending queue (wait_for_endpoint).
std::optional<upstream_error> client_connection::pick_endpoint(upstream_request& ur, int attempt) {
    auto& cluster = *ur.cluster;
    if (cluster.size() == 0) return upstream_error{failure::no_endpoint};
    ur.ep = attempt == 0 && cluster.queue_first() ? upstream::k_no_endpoint : cluster.pick(ur.hash_key, ur.has_key, ur.avoid);
    if (ur.ep != upstream::k_no_endpoint) return upstream_error{};
    if (cluster.none_healthy()) return upstream_error{failure::no_healthy};
    if (ur.avoid != upstream::k_no_endpoint && cluster.size() == 1) {  // a retry where there is no elsewhere
        ur.avoid = upstream::k_no_endpoint;
        ur.ep = cluster.pick(ur.hash_key, ur.has_key, ur.avoid);
        if (ur.ep != upstream::k_no_endpoint) return upstream_error{};
    }
    if (attempt == 0) return std::nullopt;
    return upstream_error{failure::pool_full};
}

// The pending queue (first come, first served) until a connection is released or the route's
// timeout passes (HTTP-EDGE-CASES #70).
asio::awaitable<upstream_error> client_connection::wait_for_endpoint(upstream_request& ur) {
    auto& cluster = *ur.cluster;
    const auto until = net::clock::now() + ur.timeout;
    auto& h = *cluster.def().health;
    inflight_slot pending;
    if (cluster.can_wait()) {
        if (!h.try_acquire(h.pending, upstream::limit_kind::max_pending)) {
            upstream_error e{failure::over_limit};
            e.limit = static_cast<std::uint8_t>(upstream::limit_kind::max_pending);
            co_return e;
        }
        pending.hold(h.pending);
    }
    while (ur.ep == upstream::k_no_endpoint && cluster.can_wait()) {
        // Not in the loop condition: GCC 12 evaluates a co_await in a short-circuited operand
        // even when the left side is already false.
        bool woken = co_await cluster.wait_for_room(until);
        if (!woken) break;
        ur.ep = cluster.pick(ur.hash_key, ur.has_key, ur.avoid);
    }
    if (ur.ep != upstream::k_no_endpoint) co_return upstream_error{};
    if (cluster.size() == 0) co_return upstream_error{failure::no_endpoint};  // the set emptied while waiting
    if (auto* st = cluster.stats()) st->pool_overflow.add();
    co_return upstream_error{failure::pool_full};
}

// Phase 2: a pooled keep-alive connection (true), or a new one to open with connect_upstream
// (`fresh` skips the pool: the resend after a reused connection failed).
bool client_connection::lease_pooled(upstream_request& ur, bool fresh) {
    ur.ls.cluster = ur.cluster;
    ur.ls.conn = ur.cluster->acquire(ur.ep, fresh);
    if (!ur.ls.conn) return false;  // over limits.max_connections: connect_upstream says so
    upstream_addr_ = ur.ls.conn->ep->key;
    ur.ep_health = ur.ls.conn->ep->health;
    return ur.ls.conn->reused;
}

// connect_timeout, then TLS resuming the endpoint's last session.
asio::awaitable<upstream_error> client_connection::connect_upstream(upstream_request& ur) {
    if (!ur.ls.conn) {
        upstream_error e{failure::over_limit};
        e.limit = static_cast<std::uint8_t>(upstream::limit_kind::max_connections);
        co_return e;
    }
    auto f = co_await upstream::open_connection(*ur.cluster, *ur.ls.conn);
    if (f != failure::none) ur.ls.done(false);
    co_return upstream_error{f};
}

// Phase 3: the head, with whatever body bytes already arrived (one write for small requests),
// then the rest of the body as it comes.
asio::awaitable<upstream_error> client_connection::send_request(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
    const bool stale = uc.reused;
    std::string_view early;
    if (ur.framing == body_framing::content_length && !ur.expect_continue)
        early = buf_.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(ur.content_length, buf_.size())));
    uc.timer.arm(ur.timeout);
    auto [wec, wn] = co_await uc.io.write(up_head_, early);
    if (wec) {
        ur.ls.done(false);
        co_return upstream_error{failure::write, stale};
    }
    ur.early = early.size();
    if (ur.replayable) ur.kept = early.size();  // stays in buf_ until the response head is in
    else {
        buf_.consume(early.size());
        bytes_in_ += early.size();
    }
    upstream_name_ = ur.cluster->def().name;
    ur.start = net::clock::now();
    if (!ur.has_body || ur.body_done) co_return upstream_error{};
    if (ur.framing == body_framing::content_length && ur.early == ur.content_length) {
        ur.body_done = true;
        co_return upstream_error{};
    }
    if (ur.expect_continue && buf_.empty()) {
        ur.sent_continue = true;
        if (!co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) co_return upstream_error{failure::client_gone};
    }
    auto err = ur.framing == body_framing::content_length ? co_await send_sized_body(ur) : co_await send_chunked_body(ur);
    if (!err) ur.body_done = true;
    co_return err;
}

// More of the request body: limits.body_timeout is the longest pause between two reads, and
// limits.body_min_rate bounds the whole body: it may take body_timeout plus one second per
// body_min_rate bytes received (Apache's mod_reqtimeout), so a trickle that never pauses long
// enough for the idle deadline still ends (HTTP-EDGE-CASES.md: slow POST).
asio::awaitable<io_status> client_connection::read_body(upstream_request& ur) {
    const auto& limits = snap_->config.limits;
    auto timeout = limits.body_timeout;
    if (limits.body_min_rate != 0) {
        if (ur.body_start == net::clock::time_point{}) ur.body_start = net::clock::now();
        auto earned = std::chrono::duration_cast<net::clock::duration>(std::chrono::duration<double>(static_cast<double>(ur.body_read) / static_cast<double>(limits.body_min_rate)));
        auto left = ur.body_start + limits.body_timeout + earned - net::clock::now();
        if (left <= net::clock::duration::zero()) co_return io_status::timeout;
        timeout = std::min(timeout, std::chrono::duration_cast<config::duration>(left) + std::chrono::milliseconds(1));
    }
    auto before = buf_.size();
    auto st = co_await read_more(timeout);
    if (buf_.size() > before) ur.body_read += buf_.size() - before;
    co_return st;
}

asio::awaitable<upstream_error> client_connection::send_sized_body(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
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
        bytes_in_ += chunk.size();
        remaining -= chunk.size();
    }
    co_return upstream_error{};
}

asio::awaitable<upstream_error> client_connection::send_chunked_body(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
    auto& dec = *ur.req_decoder;
    for (;;) {
        body_out_.clear();
        boost::beast::error_code ec;
        std::size_t used = buf_.empty() ? 0 : dec.put(asio::buffer(buf_.data().data(), buf_.size()), ec);
        buf_.consume(used);
        bytes_in_ += used;
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
    uc.timer.arm(ur.timeout);
    auto [wec, n] = co_await uc.io.write("0\r\n\r\n");
    if (wec) co_return upstream_error{failure::write};
    co_return upstream_error{};
}

// Phase 4: the response head; 1xx interim responses are dropped (we never forward Expect).
asio::awaitable<upstream_error> client_connection::read_response_head(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
    const auto& def = ur.cluster->def();
    bool any_byte = false;
    for (;;) {
        std::size_t scanned = 0;
        for (;;) {
            ur.resp_head_len = find_head_end(uc.buf.data(), scanned);
            if (ur.resp_head_len != std::string_view::npos) break;
            scanned = uc.buf.size();
            if (uc.buf.size() > 65536) co_return upstream_error{failure::framing};
            auto [ptr, room] = uc.buf.prepare(16384);
            uc.timer.arm(ur.timeout);
            auto [rec, rn] = co_await uc.io.read_some(ptr, room);
            if (rec) {
                if (rec == asio::error::operation_aborted && uc.timer.fired()) co_return upstream_error{failure::timeout};
                co_return upstream_error{failure::closed, !any_byte && uc.reused};
            }
            any_byte = true;
            uc.buf.commit(rn);
        }
        auto err = scan_response(uc.buf.data().substr(0, ur.resp_head_len), snap_->scan_limits, ur.is_head, resp_);
        if (err) {
            observability::warn_limited(uc.ep->key, "upstream {}: invalid response from {}: {}", def.name, uc.ep->key, err.reason);
            co_return upstream_error{failure::framing};
        }
        if (resp_.status >= 200) break;
        if (resp_.status == 101) {
            if (!upgrade_.empty()) break;  // the switch the client asked for: tunnel()
            co_return upstream_error{failure::framing};
        }
        // Interim answers go on to HTTP/1.1 clients before the final one (RFC 9110 §15.2): 103
        // Early Hints and the like; 100 only to a client that asked and has not had ours. An
        // HTTP/1.0 client cannot take them.
        const bool pass = ur.version >= 11 && (resp_.status != 100 || (ur.expect_continue && !ur.sent_continue));
        if (pass) {
            build_interim_head(resp_);
            ur.client_saw_bytes = true;
            if (!co_await write_client(out_)) co_return upstream_error{failure::client_gone};
            if (resp_.status == 100) ur.sent_continue = true;
        }
        uc.buf.consume(ur.resp_head_len);
    }
    if (auto ka = keep_alive_timeout(resp_)) uc.keep_alive = *ka;
    co_return upstream_error{};
}

void client_connection::release_kept_body(upstream_request& ur) {
    buf_.consume(ur.kept);
    bytes_in_ += ur.kept;
    ur.kept = 0;
}

asio::awaitable<bool> client_connection::fail_upstream(upstream_request& ur, const upstream_error& err) {
    ur.ls.done(false);
    release_kept_body(ur);
    if (err.kind == failure::client_gone) {
        // nginx's 499: recorded and logged as such, with the client as the error's source.
        status_ = 499;
        error_source_ = "client";
        if (listener_->stats) listener_->stats->at(w_.id()).aborts_request.add();
        co_return false;
    }
    note_local_error(ur, err);
    // The rest of a request body that was not read makes the connection unusable.
    const bool close = !ur.client_keep_alive || !ur.body_done || err.from_client();
    // The chain sees gatehouse's own answer: it may add fields (CORS, Cache-Status, RateLimit)
    // or send another answer instead (a cache's stale entry under stale-if-error).
    std::vector<std::pair<std::string, std::string>> extra;
    if (route_chain_ || listener_chain_) {
        medit_.fields = {};
        run_response_chain(err.status());
        if (medit_.replace) co_return co_await send_full(*medit_.replace, close, ur.is_head);
        for (auto& [k, v] : medit_.add)
            if (middleware::valid_header_value(v)) extra.emplace_back(std::string(k), v);
    }
    const auto& name = ur.cluster->def().name;
    switch (err.kind) {
        case failure::no_endpoint: co_return co_await send_error(503, "no endpoints available for upstream '" + name + "'", close, extra);
        case failure::no_healthy: co_return co_await send_error(503, "no healthy endpoint for upstream '" + name + "'", close, extra);
        case failure::over_limit: {
            std::string msg = "upstream '" + name + "' is at its limit " + upstream::to_string(static_cast<upstream::limit_kind>(err.limit));
            co_return co_await send_error(503, msg, close, extra);
        }
        case failure::breaker_open: {
            // Retry-After: the time the breaker stays open, rounded up to whole seconds.
            auto* b = ur.cluster->def().health->breaker();
            auto left = b ? b->open_left(net::clock::now()) : std::chrono::nanoseconds(0);
            auto secs = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(left + std::chrono::nanoseconds(999'999'999)).count());
            extra.emplace_back("Retry-After", std::to_string(secs));
            co_return co_await send_error(503, "upstream '" + name + "' is unavailable (circuit breaker open)", close, extra);
        }
        default: co_return co_await send_error(err.status(), err.message(), close, extra);
    }
}

// What the access log and metrics say about an answer gatehouse made instead of the upstream.
void client_connection::note_local_error(upstream_request& ur, const upstream_error& err) {
    upstream_name_ = ur.cluster->def().name;
    error_source_ = err.local() ? "gatehouse" : err.from_client() ? "client" : "upstream_failure";
}

// Phase 5: the response, streamed to the client; the connection goes back to the pool only if
// the response was complete and clean. Its upstream metrics are recorded however it ends.
asio::awaitable<bool> client_connection::relay_response(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
    struct upstream_record {
        client_connection* self;
        observability::upstream_shard* stats;
        net::clock::time_point start;
        int status;
        ~upstream_record() {
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(net::clock::now() - start).count();
            self->upstream_ms_ = static_cast<double>(ns) / 1e6;
            if (!stats) return;
            stats->requests[observability::code_slot(status)].add();
            stats->duration.observe(static_cast<std::uint64_t>(ns));
        }
    } upstream_rec{this, ur.cluster->stats(), ur.start, resp_.status};
    upstream_status_ = resp_.status;
    if (resp_.status >= 400) error_source_ = "upstream";
    const auto resp_framing = resp_.framing;
    run_head_chain(resp_);
    if (medit_.replace) co_return co_await relay_replacement(ur);
    auto* tap = ur.is_head ? nullptr : medit_.tap;
    // A body filter (compression) re-frames the body: chunked to HTTP/1.1, close-delimited to 1.0.
    const bool filtered = medit_.body != nullptr && !ur.is_head;
    const bool delimited = filtered || resp_framing == body_framing::chunked || resp_framing == body_framing::until_close;
    const bool chunked_to_client = delimited && ur.version == 11;
    const bool close = !ur.client_keep_alive || w_.draining() || (delimited && ur.version == 10);
    std::optional<body_decoder<false>> resp_decoder;
    if (resp_framing == body_framing::chunked) {
        resp_decoder.emplace();
        resp_decoder->header_limit(static_cast<std::uint32_t>(ur.resp_head_len + 1));
        resp_decoder->body_limit(boost::none);
        resp_decoder->sink = filtered ? &plain_ : &body_out_;
        boost::beast::error_code ec;
        resp_decoder->put(asio::buffer(uc.buf.data().data(), ur.resp_head_len), ec);
        if (ec || !resp_decoder->is_header_done()) co_return co_await send_error(502, "invalid upstream response", !ur.client_keep_alive);
        resp_decoder->eager(true);
    }
    uc.buf.consume(ur.resp_head_len);
    const bool upstream_keep_alive = resp_.keep_alive;

    // A response that is already complete in the upstream buffer (no body, or a small body that
    // arrived with the head) is copied out and its connection goes back to the pool before the
    // client write: the next request can reuse it at once, whatever the client does.
    constexpr std::uint64_t k_copy_limit = 8 * 1024;  // larger bodies are written from the buffer
    if (resp_framing == body_framing::none ||
        (resp_framing == body_framing::content_length && resp_.content_length <= std::min<std::uint64_t>(k_copy_limit, uc.buf.size()))) {
        auto body = resp_framing == body_framing::none ? std::string_view{} : uc.buf.data().substr(0, static_cast<std::size_t>(resp_.content_length));
        if (tap) {
            tap->data(body);
            tap->end();
        }
        bool close_after = close;
        if (filtered) {  // filtered whole: its length is known, so HTTP/1.0 keeps the connection too
            body_out_.clear();
            if (!medit_.body->filter(body, true, body_out_)) co_return co_await send_error(502, "response body filter failed", true);
            close_after = !ur.client_keep_alive || w_.draining();
            build_client_head(resp_, false, close_after, body_out_.size());
            out_ += body_out_;
        } else {
            build_client_head(resp_, chunked_to_client, close);
            out_.append(body.data(), body.size());
        }
        uc.buf.consume(body.size());
        ur.ls.done(upstream_keep_alive && uc.buf.empty());
        co_return co_await write_client(out_) && !close_after;
    }
    build_client_head(resp_, chunked_to_client, close);
    // Not a conditional expression over the three co_awaits: GCC 12 miscompiles that shape
    // (more than one branch ran and the head went out twice).
    auto* dec = resp_decoder ? &*resp_decoder : nullptr;
    bool complete = false;
    if (filtered) complete = co_await relay_filtered_body(ur, dec, chunked_to_client);
    else if (resp_framing == body_framing::content_length) complete = co_await relay_sized_body(ur);
    else complete = co_await relay_delimited_body(ur, dec, chunked_to_client);
    if (!complete) co_return false;  // truncated either side: the client sees the connection close, never a fake end
    if (tap) tap->end();
    ur.ls.done(resp_framing != body_framing::until_close && upstream_keep_alive && uc.buf.empty());
    co_return !close;
}

// A middleware answers instead of the upstream (a stored response after a 304): the upstream's
// body is dropped (its connection is kept only when there was none, or all of it is here).
asio::awaitable<bool> client_connection::relay_replacement(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
    uc.buf.consume(ur.resp_head_len);
    const bool whole = resp_.framing == body_framing::none || (resp_.framing == body_framing::content_length && resp_.content_length <= uc.buf.size());
    if (whole) uc.buf.consume(resp_.framing == body_framing::none ? 0 : static_cast<std::size_t>(resp_.content_length));
    ur.ls.done(whole && resp_.keep_alive && uc.buf.empty());
    const bool close = !ur.client_keep_alive || w_.draining();
    co_return co_await send_full(*medit_.replace, close, ur.is_head);
}

asio::awaitable<bool> client_connection::relay_sized_body(upstream_request& ur) {
    auto& uc = *ur.ls.conn;
    std::uint64_t remaining = resp_.content_length;
    auto first = uc.buf.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(remaining, uc.buf.size())));
    auto* tap = ur.is_head ? nullptr : medit_.tap;
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

// chunked or until_close: decode (or pass through) and re-frame for this client.
asio::awaitable<bool> client_connection::relay_delimited_body(upstream_request& ur, body_decoder<false>* dec, bool chunked_to_client) {
    auto& uc = *ur.ls.conn;
    auto* tap = ur.is_head ? nullptr : medit_.tap;
    bool head_written = false;
    for (;;) {
        body_out_.clear();
        bool done = false;
        if (dec) {
            boost::beast::error_code ec;
            std::size_t used = uc.buf.empty() ? 0 : dec->put(asio::buffer(uc.buf.data().data(), uc.buf.size()), ec);
            uc.buf.consume(used);
            if (ec && ec != boost::beast::http::error::need_more) {
                observability::warn_limited(ur.cluster->def().name, "upstream {}: malformed chunked response body", ur.cluster->def().name);
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
        out_.resize(head_written ? 0 : out_.size());
        if (!body_out_.empty() && chunked_to_client) {
            append_hex(out_, body_out_.size());
            out_ += "\r\n"sv;
            body_out_ += "\r\n"sv;
        }
        if (done && chunked_to_client) body_out_ += "0\r\n\r\n"sv;
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
                if (chunked_to_client && !co_await write_client("0\r\n\r\n")) co_return false;
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
    auto& uc = *ur.ls.conn;
    auto* filter = medit_.body;
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
            used = uc.buf.empty() ? 0 : dec->put(asio::buffer(uc.buf.data().data(), uc.buf.size()), ec);
            if (ec && ec != boost::beast::http::error::need_more) {
                observability::warn_limited(ur.cluster->def().name, "upstream {}: malformed chunked response body", ur.cluster->def().name);
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
        if (medit_.tap && !in.empty()) medit_.tap->data(in);
        body_out_.clear();
        const bool ok = filter->filter(in, done, body_out_);
        uc.buf.consume(used);
        if (!ok) co_return false;
        out_.resize(head_written ? 0 : out_.size());
        if (!body_out_.empty() && chunked_to_client) {
            append_hex(out_, body_out_.size());
            out_ += "\r\n"sv;
            body_out_ += "\r\n"sv;
        }
        if (done && chunked_to_client) body_out_ += "0\r\n\r\n"sv;
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

}  // namespace gatehouse::http
