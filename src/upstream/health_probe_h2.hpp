#pragma once
// The active health check of an HTTP/2 upstream (protocol h2 or h2c): `GET path` as a stream,
// or with health_check.grpc the standard grpc.health.v1.Health/Check call for its service.
#include <boost/asio/awaitable.hpp>
#include <string>

#include "gatehouse/config/config.hpp"
#include "net/transport.hpp"

namespace gatehouse::upstream {

struct h2_probe_result {
    bool ok = false;  // an answer came (gRPC: grpc-status 0 and SERVING); the caller judges a plain status
    int status = 0;
    std::string error;
};

// On a connected transport (TLS done when the upstream has it); the caller's deadline cancels it.
boost::asio::awaitable<h2_probe_result> h2_probe(net::transport& io, const config::health_check_config& hc, const std::string& host,
                                                 bool tls);

}  // namespace gatehouse::upstream
