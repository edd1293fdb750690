#pragma once
// Whether the peer of the socket whose Asio operation is being performed right now has hung up
// (a FIN, a reset or an error has been reported for the socket). Our build of Asio's epoll
// reactor (src/asio_patch/.../epoll_reactor.ipp) sets it before it performs an operation, from
// the mark it keeps per descriptor (GATEHOUSE_HUNG_UP). An operation that takes a short read for
// "the socket is drained, wait for its next edge" (http1/plain_tunnel.cpp) must not do so after a
// hang-up: the FIN's edge may have come with the data just read, and no other edge follows.
// With Asio's stock reactor (net/asio_patch.hpp) nothing sets it, and such operations read until
// EAGAIN.
#include "net/asio_patch.hpp"

namespace gatehouse::net {

constexpr bool reactor_reports_hangups = asio_patched;

inline thread_local bool performing_for_hung_up_peer = false;

}  // namespace gatehouse::net
