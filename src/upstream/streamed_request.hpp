#pragma once
// A request streamed from a downstream stream to an HTTP/1.1 upstream: the call's request_sender
// for a proxied request. The head is written from the forwarding policy's forwarded_request
// (http1/request_writer.cpp: the client's field lines as they arrived when it spoke HTTP/1),
// the body pulled from the downstream (http::downstream::body_ready/read_body) and framed for
// the upstream: as it came when its length is known, else chunked with the client's trailers.
// A body that is all in hand can stay there until the response head is in, so that a failed
// try can send it again (replayable).
#include <nghttp2/nghttp2.h>

#include <span>
#include <string>
#include <vector>

#include "gatehouse/http/stream.hpp"
#include "http/forwarded_request.hpp"
#include "upstream/call.hpp"

namespace gatehouse::upstream {

// What a failed wait for the client's body means for the call.
upstream_error from_body(http::body_status st);

class streamed_request : public request_sender {
public:
    explicit streamed_request(http::downstream& d) : client_(d), d_(&d) {}
    streamed_request(const streamed_request&) = delete;
    // Where the request body comes from: the client's stream (the default, and after start()),
    // or an adapter over it (a gRPC-Web text body, base64-decoded as it arrives).
    void body_from(http::downstream& d) { d_ = &d; }

    // A new request: its head, written once for every try. An HTTP/2 upstream (`h2`) gets its
    // fields instead (lower-cased, pseudo-fields first; `tls`: the scheme is https), kept as
    // "name: value" lines in the same string, submitted on every try (streamed_request_h2.cpp).
    void start(const http::forwarded_request& f, bool h2 = false, bool tls = false);
    std::string_view head() const { return head_; }
    // The request as an HTTP/1.1 head: head(), or for an HTTP/2 upstream one made from the header
    // list (an endpoint that fell back to HTTP/1.1, the mirror's copy).
    std::string_view http1_head();
    // A field added to the head after start() (before the empty line that ends it).
    void add_field(std::string_view name, std::string_view value);
    std::span<char> head_bytes() { return head_; }  // tracing writes each try's span id into its traceparent
    // The request's body is all here (or there is none) and is kept until release(): the call
    // may send it again.
    bool replayable() const { return replayable_; }
    // Whether it is, decided before the first try (`limit`: the largest body kept).
    void keep_body_up_to(std::uint64_t limit);
    // No resend from here on: a kept body is consumed.
    void release();
    // The body's first bytes were taken from the downstream already (a middleware's body phase
    // held it: request_context::want_body): `prefix` (alive until the call ends) goes first, then
    // what the downstream still has. `whole`: the prefix is all of it. After start().
    void hold(std::string_view prefix, bool whole);
    // The body as it can be sent again (replayable()): the held one, or the downstream's.
    std::string_view kept_body() const { return holding_ ? held_ : d_->body_ready(); }
    bool body_sent() const { return body_sent_; }  // the whole body went upstream
    void release_memory();
    void call_ended() { streamed_on_.reset(); }  // no resend from here on

    boost::asio::awaitable<upstream_error> send(upstream_connection& uc, net::clock::duration timeout) override;
    boost::asio::awaitable<upstream_error> send_stream(h2_connection& c, const std::shared_ptr<h2_stream>& s,
                                                       net::clock::duration timeout) override;
    bool resendable() const override;

private:
    void start_h2(const http::forwarded_request& f, bool tls);
    void add_h2(std::string_view name, std::string_view value);
    void point_nv();
    std::string h1_head_;
    boost::asio::awaitable<upstream_error> pump_h2(h2_connection& c, h2_stream& s);
    boost::asio::awaitable<bool> wait_taken(h2_stream& s);
    boost::asio::awaitable<upstream_error> offer(h2_connection& c, h2_stream& s, std::string_view piece);
    std::shared_ptr<h2_stream> streamed_on_;  // the last stream a streamed body went on (its copy: resendable())
    struct nv_span {
        std::uint32_t name, name_len, value, value_len;
    };
    std::vector<nv_span> spans_;
    std::vector<nghttp2_nv> nv_;
    bool h2_ = false;
    boost::asio::awaitable<upstream_error> send_rest(upstream_connection& uc);
    boost::asio::awaitable<upstream_error> send_held(upstream_connection& uc, bool stale);
    boost::asio::awaitable<upstream_error> write(upstream_connection& uc, std::string_view a, std::string_view b = {});
    http::downstream& client_;
    http::downstream* d_;
    std::string head_, frame_;
    std::string_view held_;
    net::clock::duration timeout_{};
    std::uint64_t length_ = 0;  // the body's declared length
    bool has_body_ = false, chunked_ = false, replayable_ = false, body_sent_ = false;
    bool holding_ = false, held_whole_ = false;
};

}  // namespace gatehouse::upstream
