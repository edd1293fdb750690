// One request to an upstream, as named phases (DESIGN §9, Pingora's lesson):
//   admit -> pick endpoint -> lease or connect -> send (the caller's sender) -> read head
// Each phase returns an upstream_error (none, or where and why it failed); try_upstream() is the
// policy over them: try another endpoint when nothing was sent, resend on a fresh connection when
// a reused one turned out dead before any response byte and the request can be replayed, retry
// per the route's policy, otherwise return the error for the caller to answer with.
#include "upstream/call.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "grpc/content_type.hpp"
#include "grpc/status.hpp"
#include "observability/log_limit.hpp"
#include "observability/tracing.hpp"
#include "upstream/connect.hpp"
#include "upstream/response_head_reader.hpp"
#include "upstream/retry.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

namespace {

constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

// `Keep-Alive: timeout=N` (RFC 2068 §19.7.1, still sent by Node.js, Apache, ...): the upstream
// closes idle connections after N seconds; reuse them for a little less than that.
std::optional<net::clock::duration> keep_alive_timeout(const http1::response_head& r) {
    for (auto& f : r.fields) {
        if (!http::iequals(f.name, "keep-alive")) continue;
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

// splitmix64: a fresh jitter for every backoff from the one seed a call gets.
std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

asio::awaitable<interim_result> request_sender::interim(const http1::response_head&) { co_return interim_result::dropped; }

call::call(std::shared_ptr<cluster_state> cluster, const call_options& o, http1::response_head& head)
    : cluster_(std::move(cluster)), o_(o), head_(head) {
    until_ = net::clock::now() + o_.timeout;
    try_timeout_ = o_.timeout;
}

call::~call() {
    finish(false);
    if (probe_) probe_->abandon_probe();  // a half_open probe that never reported: its place is free again
}

asio::awaitable<upstream_error> call::run(request_sender& sender) {
    auto err = admit();
    if (!err) err = co_await try_upstream(sender);
    co_return err;
}

void call::retarget(std::shared_ptr<cluster_state> cluster) {
    request_slot_.reset();  // before the cluster (and the counters it keeps) may go
    retry_slot_.reset();
    if (probe_) std::exchange(probe_, nullptr)->abandon_probe();
    release_try(false);
    cluster_ = std::move(cluster);
    avoid_ = k_no_endpoint;
}

void call::finish(bool reusable) {
    grpc_ended(-1);
    record_answer();
    release_try(reusable);
}

void call::release_try(bool reusable) {
    lease_.done(reusable);
    if (stream_conn_) release_stream();
}

void call::record_answer() {
    if (recorded_) return;
    recorded_ = true;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(net::clock::now() - sent_).count();
    elapsed_ms_ = static_cast<double>(ns) / 1e6;
    if (auto* stats = cluster_->stats()) {
        stats->requests[observability::code_slot(head_.status)].add();
        stats->duration.observe(static_cast<std::uint64_t>(ns));
    }
    end_try_span({});
}

void call::end_try_span(const upstream_error& err) {
    if (o_.trace) o_.trace->end_try(err ? failure_name(err.kind) : "", err ? 0 : head_.status, endpoint());
}

// Before any endpoint is picked: the breaker (fast 503 while open; half_open lets a few probes
// through) and limits.max_requests, both over every worker.
upstream_error call::admit() {
    auto& h = *def().health;
    request_slot_.reset();
    if (probe_) std::exchange(probe_, nullptr)->abandon_probe();
    if (auto* b = h.breaker()) {
        auto a = b->admit(net::clock::now());
        if (a == circuit_breaker::admission::reject) {
            h.count_failure(failure::breaker_open);
            return upstream_error{failure::breaker_open};
        }
        if (a == circuit_breaker::admission::probe) probe_ = b;
    }
    if (!h.try_acquire(h.requests, limit_kind::max_requests)) {
        h.count_failure(failure::over_limit);
        upstream_error e{failure::over_limit};
        e.limit = static_cast<std::uint8_t>(limit_kind::max_requests);
        return e;
    }
    request_slot_.hold(h.requests);
    return {};
}

// The tries on one upstream: the phases, then the retry policy over what they returned
// (routes[].retry). A try that gets a response head the policy does not retry is the answer;
// so is the last one.
asio::awaitable<upstream_error> call::try_upstream(request_sender& sender) {
    const auto* retry = o_.retry;
    unsigned retries = 0;
    for (int attempt = 0;; ++attempt) {
        try_timeout_ = try_timeout();
        try_ep_ = nullptr;
        const auto try_start = net::clock::now();
        if (o_.trace) o_.trace->begin_try();
        // The first two phases finish without suspending in the common case (an endpoint has
        // room, a pooled connection is idle): no coroutine frame for them then.
        upstream_error err;
        if (auto picked = pick_endpoint(attempt)) err = *picked;
        else err = co_await wait_for_endpoint();
        // An HTTP/2 upstream's try is a stream; an endpoint found to speak only HTTP/1.1
        // (protocol_fallback) gets a connection of its own, in this very try when it was found now.
        if (!err && def().multiplexed() && !cluster_->endpoint(ep_).speaks_http1) err = co_await try_stream(sender);
        if (!err && (!def().multiplexed() || (!stream_ && cluster_->endpoint(ep_).speaks_http1))) {
            if (!err && !lease_pooled(attempt > 0)) err = co_await connect_upstream();
            if (!err) {
                sent_ = net::clock::now();  // the upstream's time runs from the request's start
                err = co_await sender.send(*lease_.conn, try_timeout_);
                if (err) lease_.done(false);
            }
            if (!err) err = co_await read_response_head(sender);
        }
        if (err && err.stale_connection && (o_.replayable || sender.resendable()) && !resent_) {
            // The keep-alive race (or an HTTP/2 stream the upstream refused unprocessed): once
            // more on a fresh connection, not a retry.
            resent_ = true;
            end_try_span(err);
            release_try(false);
            continue;
        }
        attempt_outcome outcome{err.kind, err ? 0 : head_.status};
        if (!err && wants_grpc_status(retry)) outcome.grpc_status = grpc::status_in(head_.fields);
        ++attempts_;
        // A gRPC answer's status in its trailers (not Trailers-Only): learnt at the end (grpc_ended).
        // (A half-open probe is decided at the head: a long stream must not hold the breaker half-open.)
        grpc_outcome_due_ = !err && !probe_ && outcome.grpc_status < 0 && head_.status == 200 && wants_grpc_status(nullptr) &&
                            grpc::is_grpc_answer(head_.fields);
        if (!grpc_outcome_due_) record_outcome(outcome);
        if (try_ep_ && def().lb.policy == config::lb_policy::peak_ewma && !err.from_client()) note_latency(err, try_start);
        // Without a retry policy, a connect failure still moves on to another endpoint once:
        // nothing was sent.
        const bool wants = retry ? matches(retry->on, outcome) : err.nothing_sent() && attempt == 0 && cluster_->size() > 1;
        if (!wants || !may_retry(retries, outcome)) {
            retry_slot_.reset();
            if (!err) recorded_ = false;  // an answer: its metrics (and its span) are recorded when it ends
            else end_try_span(err);
            co_return err;
        }
        end_try_span(err);
        release_try(false);  // a response we do not relay is not read: its connection closes (its stream is reset)
        avoid_ = ep_;        // elsewhere when there is an elsewhere
        if (retry) co_await backoff_before(retries);
        ++retries;
    }
}

// peak_ewma: what this try took, to its response head (from the request's start) or to its
// failure (from the try's start, and never less than a second: a refused connect is not fast).
void call::note_latency(const upstream_error& err, net::clock::time_point try_start) {
    const auto now = net::clock::now();
    double ns = std::chrono::duration<double, std::nano>(now - (err ? try_start : sent_)).count();
    if (err) ns = std::max(ns, 1e9);
    try_ep_->latency.observe(ns, now, std::chrono::duration<double, std::nano>(def().lb.decay).count());
}

// This try's timeout: per_try_timeout if set, within what is left of the call's.
net::clock::duration call::try_timeout() const {
    auto left = until_ - net::clock::now();
    if (o_.retry && o_.retry->per_try_timeout) left = std::min<net::clock::duration>(left, *o_.retry->per_try_timeout);
    return std::max<net::clock::duration>(left, std::chrono::milliseconds(1));
}

// A Trailers-Only gRPC answer's status is read from the head only when the retry policy or the
// breaker names gRPC statuses.
bool call::wants_grpc_status(const config::retry_config* retry) const {
    const auto* b = def().health->breaker();
    return (retry && names_grpc_statuses(retry->on)) || (b && names_grpc_statuses(b->config().failure));
}

// The status a gRPC answer's trailers carried (-1: none, the stream was cut), for the breaker
// and outlier detection; a call that ends without it counts as the 200 it was.
void call::grpc_ended(int grpc_status) {
    if (!std::exchange(grpc_outcome_due_, false)) return;
    attempt_outcome o{failure::none, head_.status};
    o.grpc_status = grpc_status;
    record_outcome(o);
}

// The breaker and the endpoint's outlier detection learn what a try came to (local refusals
// and the client's own failures teach them nothing).
void call::record_outcome(const attempt_outcome& o) {
    auto& h = *def().health;
    if (o.kind != failure::none) h.count_failure(o.kind);
    if (o.kind != failure::none && outcome_kind(o.kind) == 0) return;
    if (!h.breaker() && !h.outlier()) return;
    const auto now = net::clock::now();
    if (auto* b = h.breaker()) {
        b->record(now, matches(b->config().failure, o), probe_ != nullptr);
        probe_ = nullptr;
    }
    if (ep_health_ && h.record(*ep_health_, for_endpoint(o), now))
        spdlog::warn("upstream {}: endpoint {} ejected ({} times so far)", h.name(), ep_health_->key,
                     ep_health_->ejections.load(std::memory_order_relaxed));
}

// Whether this failed try may be tried again now: the method and body allow it, nothing reached
// the caller, attempts and time are left, the budget and limits.max_retries have room, and the
// breaker is not open. Counts the retry (or the exhausted budget).
bool call::may_retry(unsigned retries, const attempt_outcome& o) {
    retry_slot_.reset();
    const auto* retry = o_.retry;
    if (!retry) return true;  // the one connect-failure move above
    if (!o_.retryable || interim_passed_ || retries >= retry->attempts || probe_) return false;
    if (net::clock::now() + retry->backoff_base >= until_) return false;
    auto& h = *def().health;
    if (!within_budget(*retry, h.retries.load(std::memory_order_relaxed), h.requests.load(std::memory_order_relaxed))) {
        if (o_.retry_stats) o_.retry_stats->budget_exhausted.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    if (!h.try_acquire(h.retries, limit_kind::max_retries)) return false;
    retry_slot_.hold(h.retries);
    if (auto* b = h.breaker()) {
        auto a = b->admit(net::clock::now());
        if (a != circuit_breaker::admission::pass) {
            if (a == circuit_breaker::admission::probe) b->abandon_probe();
            return false;
        }
    }
    if (o_.retry_stats) o_.retry_stats->retries[retry_reason(o)].fetch_add(1, std::memory_order_relaxed);
    return true;
}

asio::awaitable<void> call::backoff_before(unsigned retries) {
    auto wait = backoff(*o_.retry, retries, mix(o_.random + retries));
    if (wait.count() <= 0) co_return;
    asio::steady_timer t(co_await asio::this_coro::executor, wait);
    co_await t.async_wait(nothrow_awaitable);
}

// Phase 1: an endpoint, or nullopt when every endpoint is at max_connections and the call
// takes a place in the pending queue (wait_for_endpoint).
std::optional<upstream_error> call::pick_endpoint(int attempt) {
    auto& cluster = *cluster_;
    if (cluster.size() == 0) return upstream_error{failure::no_endpoint};
    ep_ = attempt == 0 && cluster.queue_first() ? k_no_endpoint : cluster.pick(o_.hash_key, o_.has_key, avoid_);
    if (ep_ != k_no_endpoint) return upstream_error{};
    if (cluster.none_healthy()) return upstream_error{failure::no_healthy};
    if (avoid_ != k_no_endpoint && cluster.size() == 1) {  // a retry where there is no elsewhere
        avoid_ = k_no_endpoint;
        ep_ = cluster.pick(o_.hash_key, o_.has_key, avoid_);
        if (ep_ != k_no_endpoint) return upstream_error{};
    }
    if (attempt == 0) return std::nullopt;
    return upstream_error{failure::pool_full};
}

// The pending queue (first come, first served) until a connection is released or the try's
// timeout passes (HTTP-EDGE-CASES #70).
asio::awaitable<upstream_error> call::wait_for_endpoint() {
    auto& cluster = *cluster_;
    const auto until = net::clock::now() + try_timeout_;
    auto& h = *cluster.def().health;
    inflight_slot pending;
    if (cluster.can_wait()) {
        if (!h.try_acquire(h.pending, limit_kind::max_pending)) {
            upstream_error e{failure::over_limit};
            e.limit = static_cast<std::uint8_t>(limit_kind::max_pending);
            co_return e;
        }
        pending.hold(h.pending);
    }
    while (ep_ == k_no_endpoint && cluster.can_wait()) {
        // Not in the loop condition: GCC 12 evaluates a co_await in a short-circuited operand
        // even when the left side is already false.
        bool woken = co_await cluster.wait_for_room(until);
        if (!woken) break;
        ep_ = cluster.pick(o_.hash_key, o_.has_key, avoid_);
    }
    if (ep_ != k_no_endpoint) co_return upstream_error{};
    if (cluster.size() == 0) co_return upstream_error{failure::no_endpoint};  // the set emptied while waiting
    if (auto* st = cluster.stats()) st->pool_overflow.add();
    co_return upstream_error{failure::pool_full};
}

// Phase 2: a pooled keep-alive connection (true), or a new one to open with connect_upstream
// (`fresh` skips the pool: the resend after a reused connection failed).
bool call::lease_pooled(bool fresh) {
    lease_.cluster = cluster_;
    lease_.conn = cluster_->acquire(ep_, fresh);
    if (!lease_.conn) return false;  // over limits.max_connections: connect_upstream says so
    if (last_ep_ != lease_.conn->ep) last_ep_ = lease_.conn->ep;
    try_ep_ = lease_.conn->ep.get();
    ep_health_ = lease_.conn->ep->health;
    return lease_.conn->reused;
}

// connect_timeout, then TLS resuming the endpoint's last session.
asio::awaitable<upstream_error> call::connect_upstream() {
    if (!lease_.conn) {
        upstream_error e{failure::over_limit};
        e.limit = static_cast<std::uint8_t>(limit_kind::max_connections);
        co_return e;
    }
    auto f = co_await open_connection(*cluster_, *lease_.conn);
    if (f != failure::none) lease_.done(false);
    co_return upstream_error{f};
}

// Phase 4: the response head; 1xx interim responses go to the sender, which passes them on or
// drops them.
asio::awaitable<upstream_error> call::read_response_head(request_sender& sender) {
    auto& uc = *lease_.conn;
    bool any_byte = false;
    response_head_reader reader;
    for (;;) {
        auto p = reader.next(uc.buf.data(), o_.limits, o_.is_head, head_);
        if (p == response_head_reader::progress::need_more) {
            auto [ptr, room] = uc.buf.prepare(16384);
            uc.timer.arm(try_timeout_);
            auto [rec, rn] = co_await uc.io.read_some(ptr, room);
            if (rec) {
                if (rec == asio::error::operation_aborted && uc.timer.fired()) co_return upstream_error{failure::timeout};
                co_return upstream_error{failure::closed, !any_byte && uc.reused};
            }
            any_byte = true;
            uc.buf.commit(rn);
            continue;
        }
        if (p == response_head_reader::progress::too_large) co_return upstream_error{failure::framing};
        if (p == response_head_reader::progress::invalid) {
            observability::warn_limited(uc.ep->key, "upstream {}: invalid response from {}: {}", def().name, uc.ep->key,
                                        reader.error().reason);
            co_return upstream_error{failure::framing};
        }
        head_len_ = reader.head_len();
        if (head_.status >= 200) break;
        if (head_.status == 101) {
            if (o_.allow_switch) break;  // the switch the caller asked for
            co_return upstream_error{failure::framing};
        }
        auto r = co_await sender.interim(head_);
        if (r == interim_result::caller_gone) co_return upstream_error{failure::client_gone};
        if (r == interim_result::passed) interim_passed_ = true;
        uc.buf.consume(head_len_);
    }
    if (auto ka = keep_alive_timeout(head_)) uc.keep_alive = *ka;
    co_return upstream_error{};
}

}  // namespace gatehouse::upstream
