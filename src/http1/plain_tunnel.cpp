#include "http1/plain_tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <memory>

#include "net/asio_patch.hpp"

// The transfer inside the reactor's operations specialises a private Asio template: only on the
// reactor it was written for (net/asio_patch.hpp). Otherwise the fallback below the #else.
#if GATEHOUSE_ASIO_PATCHED
#include <boost/asio/detail/reactive_socket_recv_op.hpp>

#include "net/edge_read.hpp"
#include "net/peer_hangup.hpp"
#include "net/raw_syscalls.hpp"

namespace gatehouse::http1 {
// The buffer type of a direction's read operation: its one buffer points at the direction
// (plain_tunnel.cpp's `direction`), and its perform moves the bytes (below).
using tunnel_read = net::tagged_buffer<struct tunnel_read_tag>;
namespace tunnel_detail {
boost::asio::detail::reactor_op::status perform(void* direction);
}
}  // namespace gatehouse::http1

namespace boost::asio::detail {
// Called by the reactor when the source socket has an edge (and once when the operation
// starts): "not done" keeps the operation queued for the next edge.
template <>
inline reactor_op::status reactive_socket_recv_op_base<gatehouse::http1::tunnel_read>::do_perform(reactor_op* base) {
    return gatehouse::http1::tunnel_detail::perform(static_cast<reactive_socket_recv_op_base*>(base)->buffers_.buf.data());
}
}  // namespace boost::asio::detail
#else
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#endif  // GATEHOUSE_ASIO_PATCHED

namespace gatehouse::http1 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

#if GATEHOUSE_ASIO_PATCHED
using reactor_op = asio::detail::reactor_op;

namespace tunnel_detail {

constexpr std::size_t k_buffer = 16384;  // per direction, as the coroutine pumps read
// Reads one operation may move before the rest of the worker gets a turn (a firehose on
// loopback would otherwise hold the thread): the operation completes and starts again.
constexpr int k_reads_per_turn = 32;

enum class stop {
    drained,  // the source has nothing more now: wait for its next edge
    blocked,  // the other socket is full: the rest waits for it (async_write)
    turn,     // took its share of the turn, or finished a blocked write: read again
    ended,    // the end of the stream or an error: the tunnel ends
};

struct plain_tunnel;

struct direction {
    plain_tunnel* tunnel = nullptr;
    int from = -1, to = -1;  // descriptors
    std::unique_ptr<char[]> data = std::make_unique<char[]>(k_buffer);
    std::size_t begin = 0, end = 0;  // read, not yet sent
    std::size_t moved = 0;           // bytes sent
    stop why = stop::drained;

    stop pump(net::clock::time_point& last);
};

struct plain_tunnel {
    plain_tunnel(tcp::socket& client, tcp::socket& upstream)
        : sock{&client, &upstream}, wake(client.get_executor(), asio::steady_timer::time_point::max()) {
        for (int d = 0; d < 2; ++d) {
            dir[d].tunnel = this;
            dir[d].from = sock[d]->native_handle();
            dir[d].to = sock[1 - d]->native_handle();
        }
    }

    tcp::socket* sock[2];  // 0: the client, 1: the upstream
    direction dir[2];      // dir[d]: from sock[d] to sock[1 - d]
    net::clock::time_point last = net::coarse_now();
    asio::steady_timer wake;  // the idle deadline; cancelled when the tunnel ends and when its last operation did
    int outstanding = 0;
    bool ended = false;

    void start_read(int d) {
        ++outstanding;
        sock[d]->async_read_some(tunnel_read{asio::mutable_buffer(&dir[d], 1)},
                                 [this, d](const boost::system::error_code& ec, std::size_t) { after(d, ec); });
    }

    // The other socket was full: what is left goes with Asio's own write, then reading resumes.
    void start_write(int d) {
        ++outstanding;
        auto& x = dir[d];
        asio::async_write(*sock[1 - d], asio::buffer(x.data.get() + x.begin, x.end - x.begin),
                          [this, d](const boost::system::error_code& ec, std::size_t n) {
                              dir[d].moved += n;
                              dir[d].begin = dir[d].end = 0;
                              dir[d].why = stop::turn;
                              after(d, ec);
                          });
    }

    void after(int d, const boost::system::error_code& ec) {
        --outstanding;
        if (!ended) {
            if (ec || dir[d].why == stop::ended) end();
            else if (dir[d].why == stop::blocked) start_write(d);
            else start_read(d);
        }
        if (ended && outstanding == 0) wake.cancel();
    }

    void end() {
        if (ended) return;
        ended = true;
        boost::system::error_code ec;
        sock[0]->cancel(ec);
        sock[1]->cancel(ec);
        wake.cancel();
    }
};

// Read until a short read (as nginx: the receive queue was empty then, and what arrives later
// raises a new edge, unless the peer hung up: see net/peer_hangup.hpp), sending each read on.
stop direction::pump(net::clock::time_point& last) {
    for (int reads = 0; reads < k_reads_per_turn; ++reads) {
        ssize_t n;
        do n = net::sys_recv(from, data.get(), k_buffer, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n == 0) return stop::ended;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? stop::drained : stop::ended;
        last = net::coarse_now();
        const bool drained = static_cast<std::size_t>(n) < k_buffer && net::reactor_reports_hangups && !net::performing_for_hung_up_peer;
        begin = 0;
        end = static_cast<std::size_t>(n);
        while (begin < end) {
            const auto w = net::sys_send(to, data.get() + begin, end - begin, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK ? stop::blocked : stop::ended;
            }
            begin += static_cast<std::size_t>(w);
            moved += static_cast<std::size_t>(w);
        }
        begin = end = 0;
        if (drained) return stop::drained;
    }
    return stop::turn;
}

reactor_op::status perform(void* p) {
    auto& x = *static_cast<direction*>(p);
    x.why = x.tunnel->ended ? stop::ended : x.pump(x.tunnel->last);
    return x.why == stop::drained ? reactor_op::not_done : reactor_op::done;
}

}  // namespace tunnel_detail

asio::awaitable<tunnel_bytes> run_plain_tunnel(tcp::socket& client, tcp::socket& upstream, net::clock::duration idle) {
    tunnel_detail::plain_tunnel t(client, upstream);
    t.start_read(0);
    t.start_read(1);
    while (!t.ended) {
        t.wake.expires_at(t.last + idle);
        co_await t.wake.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!t.ended && net::coarse_now() - t.last >= idle) t.end();  // idle both ways for `idle`
    }
    while (t.outstanding > 0) {  // the operations point into `t`: they finish first
        t.wake.expires_at(asio::steady_timer::time_point::max());
        co_await t.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return tunnel_bytes{t.dir[0].moved, t.dir[1].moved};
}
#else   // !GATEHOUSE_ASIO_PATCHED
namespace tunnel_detail {

// Asio's stock reactor: each direction is a coroutine that reads with async_read_some and passes
// what it read on with async_write (a completion per message, as the TLS pumps in tunnel.cpp).
constexpr std::size_t k_buffer = 16384;  // per direction

constexpr auto k_nothrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> pump(tcp::socket& from, tcp::socket& to, std::size_t& moved, net::clock::time_point& last) {
    auto data = std::make_unique<char[]>(k_buffer);
    for (;;) {
        auto [ec, n] = co_await from.async_read_some(asio::buffer(data.get(), k_buffer), k_nothrow);
        if (ec) co_return;
        last = net::coarse_now();
        auto [wec, sent] = co_await asio::async_write(to, asio::buffer(data.get(), n), k_nothrow);
        moved += sent;
        if (wec) co_return;
    }
}

// Returns once nothing moved either way for `idle`.
asio::awaitable<void> watch_idle(const net::clock::time_point& last, net::clock::duration idle) {
    asio::steady_timer wake(co_await asio::this_coro::executor);
    for (;;) {
        wake.expires_at(last + idle);
        auto [ec] = co_await wake.async_wait(k_nothrow);
        if (ec || net::coarse_now() - last >= idle) co_return;
    }
}

}  // namespace tunnel_detail

// The first direction to end, or the idle watch, cancels the others; all have finished when the
// tunnel returns.
asio::awaitable<tunnel_bytes> run_plain_tunnel(tcp::socket& client, tcp::socket& upstream, net::clock::duration idle) {
    using namespace asio::experimental::awaitable_operators;
    tunnel_bytes moved;
    net::clock::time_point last = net::coarse_now();
    co_await (tunnel_detail::pump(client, upstream, moved.to_upstream, last) ||
              tunnel_detail::pump(upstream, client, moved.to_client, last) || tunnel_detail::watch_idle(last, idle));
    co_return moved;
}
#endif  // GATEHOUSE_ASIO_PATCHED

}  // namespace gatehouse::http1
