#pragma once
// The client's side of one proxied request (private to src/http): the upstream call and what
// the phases of upstream_request.cpp and the tunnel (tunnel.cpp) share about the client's
// request and its body. It is the call's request_sender: it writes the client's head and
// streams its body up, and passes interim answers on to the client.
#include <optional>
#include <memory>

#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"
#include "upstream/call.hpp"

namespace gatehouse::http1 {

struct upstream_request final : upstream::request_sender {
    explicit upstream_request(client_connection& c) : conn(c) {}
    upstream_request(const upstream_request&) = delete;
    client_connection& conn;
    std::optional<upstream::call> call;   // from prepare_upstream on
    net::clock::duration timeout{};       // the current try's, for each write of the body
    net::clock::duration idle_timeout{};  // between reads of the response body
    bool fell_back = false;               // now on the route's fallback upstream
    // Facts of the client's request, copied before its head's views die.
    bool is_head = false, has_body = false, expect_continue = false, client_keep_alive = true;
    bool sent_continue = false;  // gatehouse answered the client's Expect itself
    int version = 11;
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;
    bool replayable = false;      // no body, or the whole body is in buf_ (kept there until the head is in)
    std::size_t early = 0;        // body bytes sent with the head from buf_
    std::uint64_t body_read = 0;  // body bytes read from the client after the head (limits.body_min_rate)
    net::clock::time_point body_start{};
    std::size_t kept = 0;    // of those, still in buf_ for a resend
    bool body_done = false;  // the client's body has been read to its end
    std::optional<body_decoder<true>> req_decoder;

    boost::asio::awaitable<upstream::upstream_error> send(upstream::upstream_connection& uc, net::clock::duration t) override;
    boost::asio::awaitable<upstream::interim_result> interim(const response_head& head) override;
};

}  // namespace gatehouse::http1
