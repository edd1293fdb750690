#pragma once
// Socket reads that tell Asio's epoll reactor when they drained the socket, as nginx does.
//
// Asio 1.81 reads speculatively: after a read that returned data, the next read calls recv(2)
// at once, before waiting for epoll, and in a request/answer exchange that recv almost always
// fails with EAGAIN. strace of a WebSocket echo through gatehouse: 4.0 recvfrom per message, half
// of them EAGAIN; nginx: 2.0, none (it marks the socket "not ready" when a read returns less
// than it asked for, and waits for the next edge). A stream socket's recv that returned fewer
// bytes than asked emptied the receive queue at that instant, so with edge-triggered epoll any
// later byte raises a new event. edge_buffer carries that rule into Asio: a short read counts
// as "exhausted" (Asio's own state for a read that found nothing more), so the next read waits
// for the next edge instead of trying first. An edge that arrives while no read is queued sets
// Asio's try-again flag as before, so nothing can be missed.
//
// It is a buffer type of our own, so the specialisation below changes no other code's reads.
#include <boost/asio/buffer.hpp>

namespace gatehouse::net {

struct edge_buffer {
    boost::asio::mutable_buffer buf;
    using value_type = boost::asio::mutable_buffer;
    using const_iterator = const boost::asio::mutable_buffer*;
    const_iterator begin() const { return &buf; }
    const_iterator end() const { return &buf + 1; }
};

inline edge_buffer edge_read_buffer(void* p, std::size_t n) { return {boost::asio::mutable_buffer(p, n)}; }

}  // namespace gatehouse::net

#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_WINDOWS)
#include <boost/asio/detail/reactive_socket_recv_op.hpp>

namespace boost::asio::detail {

template <>
inline reactor_op::status reactive_socket_recv_op_base<gatehouse::net::edge_buffer>::do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const auto& b = o->buffers_.buf;
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    status result = socket_ops::non_blocking_recv1(o->socket_, b.data(), b.size(), o->flags_, stream, o->ec_, o->bytes_transferred_) ? done : not_done;
    // Asio itself: exhausted only at end of stream (0 bytes). Here also after a short read.
    if (result == done && stream && o->bytes_transferred_ < b.size()) result = done_and_exhausted;
    return result;
}

}  // namespace boost::asio::detail
#endif
