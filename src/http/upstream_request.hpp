#pragma once
// The upstream side of one request (private to src/http): what the phases of
// upstream_request.cpp and the tunnel (tunnel.cpp) share.
#include <optional>
#include <memory>

#include "http/body_decoder.hpp"
#include "http/connection.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::http {

// The upstream side of one request: what the phases share.
struct upstream_request {
    std::shared_ptr<upstream::cluster_state> cluster;
    upstream::lease ls;
    std::size_t ep = upstream::k_no_endpoint;
    std::size_t avoid = upstream::k_no_endpoint;
    std::uint64_t hash_key = 0;
    bool has_key = false;
    net::clock::duration timeout{};
    // Facts of the client's request, copied before its head's views die.
    bool is_head = false, has_body = false, expect_continue = false, client_keep_alive = true;
    bool sent_continue = false;  // gatehouse answered the client's Expect itself
    int version = 11;
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;
    bool replayable = false;     // no body, or the whole body is in buf_ (kept there until the head is in)
    std::size_t early = 0;       // body bytes sent with the head from buf_
    std::size_t kept = 0;        // of those, still in buf_ for a resend
    bool body_done = false;      // the client's body has been read to its end
    std::optional<body_decoder<true>> req_decoder;
    std::size_t resp_head_len = 0;
    net::clock::time_point start{};
};

}  // namespace gatehouse::http
