#pragma once
// The downstream stream: one request's side of a client connection, as the exchange sees it.
// The HTTP/1.1 connection implements it for its one current request; the HTTP/2 codec
// implements it per stream. Everything protocol-specific (framing, persistence, flow control)
// happens behind it.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string_view>

#include "gatehouse/http/message.hpp"

namespace gatehouse::http {

// What the exchange may know about the connection a request came on.
struct connection_facts {
    std::string_view peer;         // the client's address, as text
    bool trusted_proxy = false;    // the peer is one of the listener's trusted_proxies
    std::string_view protocol;     // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
    bool secure = false;           // TLS
    std::string_view tls_version;  // when secure
    bool client_verified = false;  // a client certificate was verified (listener tls.client_auth)
    std::string_view client_subject, client_sans, client_fingerprint;
};

// How a wait for more of the request body ended.
enum class body_status {
    ok,            // more is ready (body_ready()), or the end arrived
    timeout,       // the client took too long (limits.body_timeout, body_min_rate)
    gone,          // the client left, or reset the stream
    bad,           // the body's framing is broken (a 400)
    too_large,     // larger than the route allows (a 413)
    bad_trailers,  // trailers over the limits (a 431)
};

// What became of an interim response.
enum class interim_outcome { sent, dropped, gone };

// Told when more of a request body arrived (or its end, or the stream's end): the HTTP/2
// upstream's stream, which sends the body as it comes while the response is relayed.
class body_watcher {
public:
    virtual void body_arrived() = 0;

protected:
    ~body_watcher() = default;
};

class downstream {
public:
    virtual const connection_facts& facts() const = 0;

    // The request body, pulled with backpressure: what arrived (decoded from the codec's
    // framing) and was not consumed yet. Nothing more is read from the client until it was
    // consumed: HTTP/1 reads into a fixed buffer, HTTP/2 credits the stream's window only for
    // consumed bytes. The first call ends the request head's views (request_head).
    virtual std::string_view body_ready() = 0;
    virtual void consume_body(std::size_t n) = 0;
    // Waits until more of the body than body_ready() holds now is ready, or its end has arrived
    // (HTTP/1.1 sends 100 Continue first when the client asked for it and nothing was answered
    // yet).
    virtual boost::asio::awaitable<body_status> read_body() = 0;
    // The whole body has arrived (what is left of it is body_ready()).
    virtual bool body_done() const = 0;
    // The request's trailers, once body_done().
    virtual trailers request_trailers() const = 0;
    // The body arrives without anybody reading (HTTP/2: the connection's reader fills it), so
    // the request body can go on while the response comes (full duplex: gRPC's bidirectional
    // streams). watch_body(w): w learns of every arrival until watch_body(nullptr).
    virtual bool full_duplex() const { return false; }
    virtual void watch_body(body_watcher*) {}

    // A 1xx interim response (103 Early Hints, 100 Continue). A codec drops what its client
    // cannot take (HTTP/1.0; a 100 nobody asked for, or one already sent).
    virtual boost::asio::awaitable<interim_outcome> send_interim(const response_head& head) = 0;
    // The final response head with the body's first bytes (maybe none); `end_stream`: nothing
    // follows them. A codec takes what it needs of the head in before it first waits (its
    // views may die then). Bodies of responses to HEAD are dropped by the codec. false: the
    // client is gone (or stopped reading).
    virtual boost::asio::awaitable<bool> send_head(const response_head& head, std::string_view data, bool end_stream) = 0;
    // Body data; `end_stream`: this is the last of it.
    virtual boost::asio::awaitable<bool> send_data(std::string_view data, bool end_stream) = 0;
    // Trailers, which end the stream (a codec that cannot carry them ends it without them).
    virtual boost::asio::awaitable<bool> send_trailers(const trailers& t) = 0;
    // The response cannot be completed (the upstream's body was cut): the client must not take
    // what it got for a whole response. HTTP/1.1 closes the connection without a last chunk;
    // HTTP/2 resets the stream.
    virtual void reset() = 0;

    // While the exchange waits with no read or write on the client pending (a composition's
    // calls run): `gone` runs, on the connection's thread, once the client closes its connection.
    // HTTP/1.1 over plain TCP watches the socket; HTTP/2 needs nothing (a stream reset cancels
    // the exchange's wait) and TLS is not watched (a close_notify is bytes to read, not told apart
    // from a pipelined request). unwatch_gone() ends the watch before the next read or write.
    virtual void watch_gone(std::function<void()> gone) { (void)gone; }
    virtual void unwatch_gone() {}

protected:
    ~downstream() = default;
};

}  // namespace gatehouse::http
