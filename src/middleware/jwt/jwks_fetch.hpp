#pragma once
// One GET of a JWKS URL (http:// or https://), on the control thread: resolve, connect, TLS
// (verified against `tls`), request, response up to 1 MiB. What happened is reported whole, for
// the provider and for the fetch's CLIENT span.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <openssl/ssl.h>

namespace gatehouse::middleware::jwt {

struct jwks_fetch_result {
    bool ok = false;  // a 200 with a body
    int status = 0;   // the response's status (0: none came)
    std::string body, cache_control;
    std::string error;       // why it failed, for the log and the admin API
    std::string error_type;  // the same, low cardinality: resolve, connect, tls, write, read, or the status
    std::string host, port;  // from the URL
    std::string peer_address;  // the IP connected to
    std::uint16_t peer_port = 0;
};

boost::asio::awaitable<void> fetch_jwks(std::string url, std::shared_ptr<SSL_CTX> tls, std::function<void(jwks_fetch_result)> done);

}  // namespace gatehouse::middleware::jwt
