#pragma once
// The upstream side of one request (private to src/http): what the phases of
// upstream_request.cpp and the tunnel (tunnel.cpp) share.
#include <optional>
#include <memory>

#include "http/body_decoder.hpp"
#include "http/connection.hpp"
#include "upstream/pool.hpp"
#include "upstream/retry.hpp"

namespace gatehouse::http {

// One place in an upstream's in-flight count (limits, retry budget), given back when it ends.
// The counter belongs to the upstream's health, which the request's cluster keeps alive: a slot
// is reset before the request moves to another cluster (fallback), and is declared after it.
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
        if (counter) upstream::upstream_health::release(*counter);
        counter = nullptr;
    }
};

// The upstream side of one request: what the phases share.
struct upstream_request {
    upstream_request() = default;
    upstream_request(const upstream_request&) = delete;
    ~upstream_request() {
        if (probe) probe->abandon_probe();  // a half_open probe that never reported: its place is free again
    }
    std::shared_ptr<upstream::cluster_state> cluster;
    upstream::lease ls;
    std::size_t ep = upstream::k_no_endpoint;
    std::size_t avoid = upstream::k_no_endpoint;
    std::uint64_t hash_key = 0;
    bool has_key = false;
    net::clock::duration timeout{};       // this try's: the response head, each request write
    net::clock::duration route_timeout{};  // the whole request's (every try and backoff)
    net::clock::duration idle_timeout{};   // between reads of the response body
    net::clock::time_point until{};        // when route_timeout ends
    // Fault tolerance: the in-flight places this request holds, whether it is a half_open probe,
    // the endpoint of the current try, and what the tries came to.
    inflight_slot request_slot, retry_slot;
    upstream::circuit_breaker* probe = nullptr;
    std::shared_ptr<upstream::endpoint_health> ep_health;
    bool retryable = false;       // the route retries this method, and the body can be replayed
    bool client_saw_bytes = false;  // an interim answer reached the client: no retry after that
    bool resent = false;          // the keep-alive race resend happened
    bool fell_back = false;       // now on the route's fallback upstream
    int attempts = 0;
    // Facts of the client's request, copied before its head's views die.
    bool is_head = false, has_body = false, expect_continue = false, client_keep_alive = true;
    bool sent_continue = false;  // gatehouse answered the client's Expect itself
    int version = 11;
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;
    bool replayable = false;     // no body, or the whole body is in buf_ (kept there until the head is in)
    std::size_t early = 0;       // body bytes sent with the head from buf_
    std::uint64_t body_read = 0;  // body bytes read from the client after the head (limits.body_min_rate)
    net::clock::time_point body_start{};
    std::size_t kept = 0;        // of those, still in buf_ for a resend
    bool body_done = false;      // the client's body has been read to its end
    std::optional<body_decoder<true>> req_decoder;
    std::size_t resp_head_len = 0;
    net::clock::time_point start{};
};

}  // namespace gatehouse::http
