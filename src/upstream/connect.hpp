#pragma once
// Opening a new upstream connection: TCP connect within the pool's connect_timeout, then, for
// TLS upstreams, the handshake resuming the endpoint's last session (SNI and verification as
// configured). Used by every upstream call.
#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <string>

#include "gatehouse/discovery/endpoint.hpp"
#include "gatehouse/upstream/upstream_error.hpp"

namespace gatehouse::upstream {

class cluster_state;
struct cluster;
struct upstream_connection;

// The host an endpoint is known by (its name without the port, else its address; an IPv6
// literal without brackets): the SNI name and the name verified, unless tls.sni says otherwise.
std::string endpoint_host(const discovery::endpoint& ep);
// A TLS session for a new connection to `ep`: SNI and certificate verification as configured.
// The request path and the health checks both use it.
SSL* new_upstream_ssl(const cluster& def, const discovery::endpoint& ep);

// failure::none, connect or tls (logged and counted here).
boost::asio::awaitable<failure> open_connection(cluster_state& cluster, upstream_connection& uc);

}  // namespace gatehouse::upstream
