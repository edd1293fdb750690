#pragma once
// Whether this build runs our patched Asio epoll reactor (src/asio_patch/, made from Boost
// 1.81). CMakeLists.txt decides and defines GATEHOUSE_ASIO_PATCHED for everything that links
// Asio: 1 only against Boost 1.81 with the epoll backend; any other Boost gets Asio's stock
// reactor, a configure-time warning, and the fallbacks below the same check (net/edge_read.hpp,
// http1/plain_tunnel.cpp). The checks here keep a hand-set definition from compiling our
// specialisations of Asio's private internals against a version they were not written for
// (docs/architecture.md, "Upgrading Boost").
#include <boost/asio/detail/config.hpp>
#include <boost/version.hpp>

#if !defined(GATEHOUSE_ASIO_PATCHED)
#error "GATEHOUSE_ASIO_PATCHED is defined by CMakeLists.txt (target gatehouse_asio): link it"
#elif GATEHOUSE_ASIO_PATCHED && BOOST_VERSION != 108100
#error "GATEHOUSE_ASIO_PATCHED=1 needs Boost 1.81, the version src/asio_patch was made from"
#elif GATEHOUSE_ASIO_PATCHED && (!defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT))
#error "GATEHOUSE_ASIO_PATCHED=1 needs Asio's epoll reactor (not io_uring)"
#endif

namespace gatehouse::net {

// The reactor tells reads whether the peer hung up and lets a busy worker nap before it blocks
// (event_loop.batch_wait); on the stock reactor neither happens.
constexpr bool asio_patched = GATEHOUSE_ASIO_PATCHED != 0;

}  // namespace gatehouse::net
