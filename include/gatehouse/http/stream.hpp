#pragma once
// The downstream stream: one request's side of a client connection, as the exchange sees it.
// The HTTP/1.1 connection implements it for its one current request; the HTTP/2 codec
// implements it per stream. Everything protocol-specific (framing, persistence, flow control)
// happens behind it.
#include <boost/asio/awaitable.hpp>
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

class downstream {
public:
    virtual const connection_facts& facts() const = 0;
    // A 1xx interim response (103 Early Hints, 100 Continue). false: the client is gone.
    virtual boost::asio::awaitable<bool> send_interim(const response_head& head) = 0;
    // The final response head; `end_stream`: no body follows. A codec may hold a head back to
    // send it with the first data in one write. Bodies of responses to HEAD are dropped by the
    // codec. false: the client is gone (or stopped reading).
    virtual boost::asio::awaitable<bool> send_head(const response_head& head, bool end_stream) = 0;
    // Body data; `end_stream`: this is the last of it.
    virtual boost::asio::awaitable<bool> send_data(std::string_view data, bool end_stream) = 0;

protected:
    ~downstream() = default;
};

}  // namespace gatehouse::http
