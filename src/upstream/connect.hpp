#pragma once
// Opening a new upstream connection: TCP connect within the pool's connect_timeout, then, for
// TLS upstreams, the handshake resuming the endpoint's last session (SNI and verification as
// configured). Shared by the request path and the mirror.
#include <boost/asio/awaitable.hpp>

#include "gatehouse/upstream/upstream_error.hpp"

namespace gatehouse::upstream {

class cluster_state;
struct upstream_connection;

// failure::none, connect or tls (logged and counted here).
boost::asio::awaitable<failure> open_connection(cluster_state& cluster, upstream_connection& uc);

}  // namespace gatehouse::upstream
