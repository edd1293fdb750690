// After an upstream answered 101 Switching Protocols to an upgrade the route allows (WebSocket,
// ...): the 101 goes to the client, then bytes flow both ways, as they come, until either side
// closes, the tunnel is idle for tunnel_idle_timeout, or a drain ends it. Bytes that arrived
// early (the client's first frames behind its request head, the upstream's behind the 101)
// are passed on first.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <exception>

#include "http1/client_connection.hpp"
#include "http1/tunnel.hpp"
#include "http1/plain_tunnel.hpp"
#include "upstream/call.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::http1 {

namespace {
std::atomic<std::int64_t> g_tunnels{0};
}

// With TLS on either side (plain tunnels: plain_tunnel.hpp), the two directions run as two
// coroutines on the worker; the first to end ends the other: it
// marks the link ended and cancels what waits on either socket (a pump whose operation had
// already completed sees the mark when it resumes). Not `a || b`: a parallel group gives each
// coroutine a cancellation slot, and every read and write under a slot installs and removes a
// cancellation handler (about 5 % of the tunnel's instructions per message).
struct tunnel_link {
    tunnel_link(tcp::socket& c, tcp::socket& u)
        : client(c), upstream(u), to_client_finished(c.get_executor(), asio::steady_timer::time_point::max()) {}
    tcp::socket& client;
    tcp::socket& upstream;
    asio::steady_timer to_client_finished;  // cancelled when the second coroutine returns
    bool ended = false;
    bool to_client_done = false;
    std::exception_ptr failure;

    void end() {
        if (ended) return;
        ended = true;
        boost::system::error_code ec;
        client.cancel(ec);
        upstream.cancel(ec);
    }
};

std::int64_t tunnels_active() { return g_tunnels.load(std::memory_order_relaxed); }

tunnel_count::tunnel_count() { g_tunnels.fetch_add(1, std::memory_order_relaxed); }
tunnel_count::~tunnel_count() { g_tunnels.fetch_sub(1, std::memory_order_relaxed); }

asio::awaitable<bool> client_connection::tunnel(upstream::call& call, const router::compiled_route& route) {
    auto& uc = call.conn();
    const tunnel_count counted;
    const auto& h = call.head();
    compose_interim(ex_.relayed_interim(h.status, h.reason, h.fields));  // status line and end-to-end fields
    std::string_view proto = ex_.upgrade();
    for (auto& f : h.fields)
        if (f.name.size() == 7 && iequals(f.name, "upgrade")) proto = f.value;
    std::string upgrade = "Connection: upgrade\r\nUpgrade: " + std::string(proto) + "\r\n";
    out_.insert(out_.size() - 2, upgrade);
    ex_.status = 101;
    uc.buf.consume(call.head_len());
    const auto idle = route.config.tunnel_idle_timeout;
    dl_.arm(idle);
    auto [wec, wn] = co_await io_.write(out_, uc.buf.data());
    ex_.bytes_out += wn;
    uc.buf.consume(uc.buf.size());
    if (wec) co_return false;
    if (!buf_.empty()) {  // the client's first bytes, sent behind its request head
        uc.timer.arm(idle);
        auto [uec, un] = co_await uc.io.write(buf_.data(), {});
        ex_.bytes_in += buf_.size();
        buf_.consume(buf_.size());
        if (uec) co_return false;
    }
    std::exception_ptr failure;
    if (!io_.secure() && !uc.io.secure()) {
        // Plain both ways: the reactor moves the bytes (plain_tunnel.hpp) and the tunnel keeps
        // the idle time itself; the sockets' own deadlines stay out of it.
        dl_.disarm();
        uc.timer.disarm();
        auto moved = co_await run_plain_tunnel(sock_, uc.socket, idle);
        ex_.bytes_in += moved.to_upstream;
        ex_.bytes_out += moved.to_client;
    } else {
        failure = co_await pump_both_ways(call, idle);
    }
    call.drop_connection();  // a tunnelled connection is never pooled
    if (failure) std::rethrow_exception(failure);
    co_return false;  // nor is the client's: it was the tunnel
}

// TLS on either side: one coroutine per direction.
asio::awaitable<std::exception_ptr> client_connection::pump_both_ways(upstream::call& call, net::clock::duration idle) {
    auto& uc = call.conn();
    rearm(uc, idle);
    tunnel_link link(sock_, uc.socket);
    asio::co_spawn(sock_.get_executor(), pump_to_client(call, idle, link), [&link](std::exception_ptr e) {
        if (e) link.failure = e;
        link.to_client_done = true;
        link.end();
        link.to_client_finished.cancel();
    });
    try {
        co_await pump_to_upstream(call, idle, link);
    } catch (...) {  // the other coroutine uses `link`: wait for it before leaving
        link.failure = std::current_exception();
    }
    link.end();
    if (!link.to_client_done) co_await link.to_client_finished.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return link.failure;
}

// Both directions re-arm both sockets' deadlines on every transfer: the tunnel is idle only when
// neither side has sent anything for `idle` (a one-way stream keeps it open). One clock read.
void client_connection::rearm(upstream::upstream_connection& uc, net::clock::duration idle) {
    const auto until = net::coarse_now() + idle;
    dl_.arm_until(until);
    uc.timer.arm_until(until);
}

asio::awaitable<void> client_connection::pump_to_upstream(upstream::call& call, net::clock::duration idle, tunnel_link& link) {
    auto& uc = call.conn();
    for (;;) {
        auto [ptr, room] = buf_.prepare(16384);
        auto [ec, n] = co_await io_.read_some(ptr, room);
        if (ec || n == 0 || link.ended) co_return;
        buf_.commit(n);
        ex_.bytes_in += n;
        rearm(uc, idle);
        auto [wec, wn] = co_await uc.io.write(buf_.data(), {});  // plain: at once if the socket takes it
        buf_.consume(buf_.size());
        if (wec || link.ended) co_return;
    }
}

asio::awaitable<void> client_connection::pump_to_client(upstream::call& call, net::clock::duration idle, tunnel_link& link) {
    auto& uc = call.conn();
    for (;;) {
        auto [ptr, room] = uc.buf.prepare(16384);
        auto [ec, n] = co_await uc.io.read_some(ptr, room);
        if (ec || n == 0 || link.ended) co_return;
        uc.buf.commit(n);
        rearm(uc, idle);
        auto [wec, wn] = co_await io_.write(uc.buf.data(), {});
        ex_.bytes_out += wn;
        uc.buf.consume(uc.buf.size());
        if (wec || link.ended) co_return;
    }
}

}  // namespace gatehouse::http1
