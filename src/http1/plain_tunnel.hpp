#pragma once
// A plain-TCP tunnel (WebSocket and other upgrades after a 101, TLS on neither side), moved the
// way nginx moves it: each direction is one Asio read operation on its source socket whose
// perform *is* the transfer (read until a short read, send each read to the other socket) and
// which stays queued in the reactor for the life of the tunnel. A message costs a recv and a
// send inside the worker's own epoll wake-up, with no completion, handler or coroutine
// resumption; the per-operation machinery runs only when a direction blocks on a full socket,
// takes its share of a turn, or the tunnel ends (docs/architecture.md, "Plain tunnels move
// their bytes inside the reactor's operations").
// TLS tunnels use the coroutine pumps (tunnel.cpp): their records need OpenSSL between read
// and write.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>

#include "net/deadlines.hpp"

namespace gatehouse::http1 {

struct tunnel_bytes {
    std::size_t to_upstream = 0;
    std::size_t to_client = 0;
};

// Moves bytes both ways between two connected plain sockets until either side closes or
// fails, or nothing moved either way for `idle`. Nothing may be pending on either socket; both
// stay open (the caller closes them).
boost::asio::awaitable<tunnel_bytes> run_plain_tunnel(boost::asio::ip::tcp::socket& client, boost::asio::ip::tcp::socket& upstream,
                                                      net::clock::duration idle);

}  // namespace gatehouse::http1
