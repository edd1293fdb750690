#pragma once
// One request to an upstream with all its policy, for whoever sends one: the proxied request,
// the mirror, the cache's background refresh (DESIGN.md §10). The call admits it (breaker,
// limits.max_requests), picks an endpoint, leases a connection (pooled or new), has the
// caller's request_sender write the request, reads the response head, and retries per the
// route's policy (budget, backoff, the keep-alive race resend); it records every try's outcome
// for the breaker and outlier detection and the upstream metrics of the answer. The caller
// relays the response body from conn() and ends with finish(). Nothing here knows the client.
#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gatehouse/config/config.hpp"
#include "http1/head.hpp"
#include "gatehouse/upstream/upstream_error.hpp"
#include "net/deadlines.hpp"
#include "upstream/h2_stream.hpp"
#include "upstream/health.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::observability {
class client_spans;
}

namespace gatehouse::upstream {

struct retry_counts;
struct attempt_outcome;
class h2_connection;
struct h2_stream;

// An upstream's response head (upstreams speak HTTP/1.1 today).
using response_head = http1::response_head;

// One place in an upstream's in-flight count (limits, retry budget), given back when it ends.
// The counter belongs to the upstream's health, which the call's cluster keeps alive: a slot is
// reset before the call moves to another cluster (retarget).
struct inflight_slot {
    std::atomic<std::int64_t>* counter = nullptr;
    inflight_slot() = default;
    inflight_slot(const inflight_slot&) = delete;
    inflight_slot& operator=(const inflight_slot&) = delete;
    ~inflight_slot() { reset(); }
    void hold(std::atomic<std::int64_t>& c) {
        reset();
        counter = &c;
    }
    void reset() {
        if (counter) upstream_health::release(*counter);
        counter = nullptr;
    }
};

// What an interim (1xx) response came to at the caller.
enum class interim_result { dropped, passed, caller_gone };

// How the request goes out on a leased connection: the caller's (the client's request with its
// streamed body, or a buffered sub-request). send() is called once per try: again after a
// failed try only when the call's options say the request is replayable.
class request_sender {
public:
    // Writes head and body on `uc`, each write within `timeout`.
    virtual boost::asio::awaitable<upstream_error> send(upstream_connection& uc, net::clock::duration timeout) = 0;
    // An HTTP/2 upstream: submits the request as stream `s` on `c` and sends its body (or
    // arranges for it to go on as it arrives), each wait within `timeout`.
    virtual boost::asio::awaitable<upstream_error> send_stream(h2_connection& c, const std::shared_ptr<h2_stream>& s,
                                                               net::clock::duration timeout);
    // A 1xx before the final answer. Once one was passed on, the call is not retried.
    virtual boost::asio::awaitable<interim_result> interim(const http1::response_head& head);
    // The last try's stream was refused unprocessed and its streamed body can go again (a copy of
    // what was sent is kept): the call resends it as it resends a replayable request.
    virtual bool resendable() const { return false; }

protected:
    ~request_sender() = default;
};

struct call_options {
    net::clock::duration timeout{};               // the whole call: every try and backoff
    const config::retry_config* retry = nullptr;  // the route's retry policy (null: none)
    retry_counts* retry_stats = nullptr;          // its metrics
    bool retryable = false;                       // the method and body allow retries
    bool replayable = false;                      // the sender can send the request again (the keep-alive race)
    bool is_head = false;                         // a HEAD request: the response has no body
    bool allow_switch = false;                    // a 101 is an answer (an upgrade the route allows)
    bool has_key = false;                         // hash_key is set (ring_hash)
    std::uint64_t hash_key = 0;
    std::uint64_t random = 0;                      // seeds the backoff's jitter
    observability::client_spans* trace = nullptr;  // a sampled request: a CLIENT span per try
    http1::scan_limits limits;                     // for the response head
};

class call {
public:
    // `head`: where the response head goes (the caller's, so its field vector is reused).
    call(std::shared_ptr<cluster_state> cluster, const call_options& o, http1::response_head& head);
    call(const call&) = delete;
    call& operator=(const call&) = delete;
    ~call();

    // admit, then tries until a response head the retry policy accepts, or the last try's error.
    boost::asio::awaitable<upstream_error> run(request_sender& sender);
    // run() in two steps, for a caller on the hot path (one coroutine frame fewer): admit()
    // decides without waiting; tries() only when it admitted.
    upstream_error admit();
    boost::asio::awaitable<upstream_error> tries(request_sender& sender) { return try_upstream(sender); }
    // The call goes to another upstream (a route's fallback): its places and lease are given up.
    void retarget(std::shared_ptr<cluster_state> cluster);

    // After run() succeeded: the response head, its length in conn().buf, the connection.
    const http1::response_head& head() const { return head_; }
    std::size_t head_len() const { return head_len_; }
    upstream_connection& conn() { return *lease_.conn; }
    // An HTTP/2 upstream's answer comes on a stream instead (null for HTTP/1).
    h2_stream* stream() { return stream_.get(); }
    // The response is over: the connection goes back to the pool when `reusable`, and the
    // upstream metrics of the answer are recorded (once; the destructor does it otherwise).
    void finish(bool reusable);
    // A gRPC answer ended with this status in its trailers: the breaker and outlier detection
    // learn it (when they name gRPC statuses) as they learn a Trailers-Only head's. Before finish().
    void grpc_ended(int grpc_status);
    // Gives the connection up without recording anything yet (a failed call, a tunnel).
    void drop_connection() { release_try(false); }
    // Records the answer's upstream metrics now (once): a 101 before its tunnel runs.
    void record_answer();

    const upstream::cluster& def() const { return cluster_->def(); }
    int attempts() const { return attempts_; }
    bool saw_interim() const { return interim_passed_; }
    // The endpoint of the last try ("ip:port"; empty before one was leased).
    std::string_view endpoint() const { return last_ep_ ? std::string_view(last_ep_->key) : std::string_view{}; }
    // Milliseconds from the request being sent to finish(), -1 before that.
    double elapsed_ms() const { return elapsed_ms_; }

private:
    boost::asio::awaitable<upstream_error> try_upstream(request_sender& sender);
    net::clock::duration try_timeout() const;
    void record_outcome(const attempt_outcome& o);
    bool wants_grpc_status(const config::retry_config* retry) const;
    void end_try_span(const upstream_error& err);
    bool may_retry(unsigned retries, const attempt_outcome& o);
    boost::asio::awaitable<void> backoff_before(unsigned retries);
    std::optional<upstream_error> pick_endpoint(int attempt);
    boost::asio::awaitable<upstream_error> wait_for_endpoint();
    bool lease_pooled(bool fresh);
    boost::asio::awaitable<upstream_error> connect_upstream();
    boost::asio::awaitable<upstream_error> read_response_head(request_sender& sender);
    // HTTP/2 upstreams (call_stream.cpp): a stream instead of a leased connection.
    boost::asio::awaitable<upstream_error> try_stream(request_sender& sender);
    boost::asio::awaitable<upstream_error> read_stream_head(request_sender& sender);
    bool stream_head_to_head();
    upstream_error stream_failure() const;
    void note_endpoint(const std::shared_ptr<endpoint_state>& ep);
    // This try's connection (HTTP/1, back to the pool when `reusable`) or stream is given up.
    void release_try(bool reusable);
    void release_stream();

    std::shared_ptr<cluster_state> cluster_;
    call_options o_;
    http1::response_head& head_;
    std::size_t head_len_ = 0;
    lease lease_;
    std::shared_ptr<h2_stream> stream_;
    std::shared_ptr<h2_connection> stream_conn_;
    h2_fields interim_fields_;  // an interim head's, while it is passed on
    std::shared_ptr<endpoint_state> stream_ep_;
    std::size_t ep_ = k_no_endpoint;
    std::size_t avoid_ = k_no_endpoint;
    net::clock::time_point until_{};      // when the call's timeout ends
    net::clock::duration try_timeout_{};  // this try's: the response head, each request write
    inflight_slot request_slot_, retry_slot_;
    circuit_breaker* probe_ = nullptr;  // this call is a half_open probe
    std::shared_ptr<endpoint_health> ep_health_;
    std::shared_ptr<endpoint_state> last_ep_;
    endpoint_state* try_ep_ = nullptr;  // this try's endpoint, once it has a connection
    void note_latency(const upstream_error& err, net::clock::time_point try_start);
    bool resent_ = false;
    bool interim_passed_ = false;
    bool recorded_ = true;  // no answer to record yet
    bool grpc_outcome_due_ = false;  // the answer's outcome waits for its trailers' gRPC status
    int attempts_ = 0;
    net::clock::time_point sent_{};
    double elapsed_ms_ = -1;
};

}  // namespace gatehouse::upstream
