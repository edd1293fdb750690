#pragma once
// Socket reads that tell Asio's epoll reactor when they drained the socket, as nginx does.
//
// Asio 1.81 reads speculatively: after a read that returned data, the next read calls recv(2)
// at once, before waiting for epoll, and in a request/answer exchange that recv almost always
// fails with EAGAIN (perf stat, 5-byte proxying at 50 connections: 3.5 recvfrom per request
// through gatehouse, 2.0 through nginx; a syscall costs ~3.5 us on the bench machine). Asio has
// the state for doing better: a read that reports "done_and_exhausted" makes the next read wait
// for the socket's next edge, and an edge that arrives while no read is queued re-enables the
// speculative try. Asio reports it only at end of stream. Here a read reports it when recv(2)
// returned less than it asked for: the receive queue was empty then, and whatever arrives later
// raises a new edge (edge-triggered epoll reports every arrival after the event it delivered).
// The exception is a hang-up whose edge came before this read: a FIN or a reset that arrived
// with the last data. Our build of the reactor (src/asio_patch/.../epoll_reactor.ipp) registers
// EPOLLRDHUP and remembers a hang-up event, so a socket that saw one is never treated as
// drained (found the hard way: docs/benchmarks-history.md, "Reads that know when they drained the
// socket").
//
// It is a buffer type of our own, so the specialisation below changes no other code's reads.
// The specialisation reaches into Asio's private internals, so it exists only where they are
// the ones it was written for (GATEHOUSE_ASIO_PATCHED, net/asio_patch.hpp); elsewhere
// edge_read_buffer is a plain buffer and the reads are Asio's own.
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <sys/socket.h>

#include "net/asio_patch.hpp"
#include "net/raw_syscalls.hpp"

#include <cerrno>

namespace gatehouse::net {

// A one-buffer sequence of a type of its own: Asio's operation templates take the buffer type as
// a parameter, so a distinct type lets us specialise one operation's perform (here and in
// http1/plain_tunnel.cpp) without touching any other read.
template <class Tag>
struct tagged_buffer {
    boost::asio::mutable_buffer buf;
    using value_type = boost::asio::mutable_buffer;
    using const_iterator = const boost::asio::mutable_buffer*;
    const_iterator begin() const { return &buf; }
    const_iterator end() const { return &buf + 1; }
};

#if GATEHOUSE_ASIO_PATCHED
using edge_buffer = tagged_buffer<struct edge_read_tag>;

inline edge_buffer edge_read_buffer(void* p, std::size_t n) { return {boost::asio::mutable_buffer(p, n)}; }
#else
// Asio's stock reactor: its own read, which tries recv(2) again before it waits.
inline boost::asio::mutable_buffer edge_read_buffer(void* p, std::size_t n) { return boost::asio::mutable_buffer(p, n); }
#endif

}  // namespace gatehouse::net

#if GATEHOUSE_ASIO_PATCHED
#include <boost/asio/detail/reactive_socket_recv_op.hpp>

namespace boost::asio::detail {

template <>
inline reactor_op::status reactive_socket_recv_op_base<gatehouse::net::edge_buffer>::do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const auto& b = o->buffers_.buf;
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    for (;;) {
        const auto r = gatehouse::net::sys_recv(o->socket_, b.data(), b.size(), o->flags_);
        if (r > 0) {
            o->ec_ = boost::system::error_code();
            o->bytes_transferred_ = static_cast<std::size_t>(r);
            return stream && o->bytes_transferred_ < b.size() ? done_and_exhausted : done;
        }
        if (r == 0 && stream) {  // the end of the stream (Asio: exhausted too)
            o->ec_ = boost::asio::error::eof;
            o->bytes_transferred_ = 0;
            return done_and_exhausted;
        }
        if (r == 0) {
            o->ec_ = boost::system::error_code();
            o->bytes_transferred_ = 0;
            return done;
        }
        const int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            o->ec_ = boost::asio::error::would_block;
            return not_done;
        }
        o->ec_ = boost::system::error_code(err, boost::asio::error::get_system_category());
        o->bytes_transferred_ = 0;
        return done;
    }
}

}  // namespace boost::asio::detail
#endif  // GATEHOUSE_ASIO_PATCHED
