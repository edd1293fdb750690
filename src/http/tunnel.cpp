// After an upstream answered 101 Switching Protocols to an upgrade the route allows (WebSocket,
// ...): the 101 goes to the client, then bytes flow both ways, as they come, until either side
// closes, the tunnel is idle for tunnel_idle_timeout, or a drain ends it. Bytes that arrived
// early (the client's first frames behind its request head, the upstream's behind the 101)
// are passed on first.
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <atomic>

#include "http/connection.hpp"
#include "http/tunnel.hpp"
#include "http/upstream_request.hpp"

namespace gatehouse::http {

using namespace boost::asio::experimental::awaitable_operators;

namespace {
std::atomic<std::int64_t> g_tunnels{0};
}

std::int64_t tunnels_active() { return g_tunnels.load(std::memory_order_relaxed); }

asio::awaitable<bool> client_connection::tunnel(upstream_request& ur, const router::compiled_route& route) {
    auto& uc = *ur.ls.conn;
    build_interim_head(resp_);  // status line and end-to-end fields
    std::string_view proto = upgrade_;
    for (auto& f : resp_.fields)
        if (f.name.size() == 7 && iequals(f.name, "upgrade")) proto = f.value;
    std::string upgrade = "Connection: upgrade\r\nUpgrade: " + std::string(proto) + "\r\n";
    out_.insert(out_.size() - 2, upgrade);
    status_ = 101;
    uc.buf.consume(ur.resp_head_len);
    const auto idle = route.config.tunnel_idle_timeout;
    dl_.arm(idle);
    auto [wec, wn] = co_await io_.write(out_, uc.buf.data());
    bytes_out_ += wn;
    uc.buf.consume(uc.buf.size());
    if (wec) co_return false;
    if (!buf_.empty()) {  // the client's first bytes, sent behind its request head
        uc.timer.arm(idle);
        auto [uec, un] = co_await uc.io.write(buf_.data(), {});
        bytes_in_ += buf_.size();
        buf_.consume(buf_.size());
        if (uec) co_return false;
    }
    g_tunnels.fetch_add(1, std::memory_order_relaxed);
    co_await (pump_to_upstream(ur, idle) || pump_to_client(ur, idle));  // the first to end cancels the other
    g_tunnels.fetch_sub(1, std::memory_order_relaxed);
    ur.ls.done(false);  // a tunnelled connection is never pooled
    co_return false;    // nor is the client's: it was the tunnel
}

// Both directions re-arm both sockets' deadlines on every transfer: the tunnel is idle only when
// neither side has sent anything for `idle` (a one-way stream keeps it open).
asio::awaitable<void> client_connection::pump_to_upstream(upstream_request& ur, net::clock::duration idle) {
    auto& uc = *ur.ls.conn;
    for (;;) {
        auto [ptr, room] = buf_.prepare(16384);
        dl_.arm(idle);
        auto [ec, n] = co_await io_.read_some(ptr, room);
        if (ec || n == 0) co_return;
        buf_.commit(n);
        bytes_in_ += n;
        uc.timer.arm(idle);
        // What the socket takes now goes at once; the rest (a full socket buffer, TLS) waits.
        auto sent = uc.io.try_write(buf_.data());
        if (sent < 0) co_return;
        buf_.consume(static_cast<std::size_t>(sent));
        if (buf_.empty()) continue;
        auto [wec, wn] = co_await uc.io.write(buf_.data(), {});
        buf_.consume(buf_.size());
        if (wec) co_return;
    }
}

asio::awaitable<void> client_connection::pump_to_client(upstream_request& ur, net::clock::duration idle) {
    auto& uc = *ur.ls.conn;
    for (;;) {
        auto [ptr, room] = uc.buf.prepare(16384);
        uc.timer.arm(idle);
        auto [ec, n] = co_await uc.io.read_some(ptr, room);
        if (ec || n == 0) co_return;
        uc.buf.commit(n);
        dl_.arm(idle);
        auto sent = io_.try_write(uc.buf.data());
        if (sent < 0) co_return;
        bytes_out_ += static_cast<std::size_t>(sent);
        uc.buf.consume(static_cast<std::size_t>(sent));
        if (uc.buf.empty()) continue;
        auto [wec, wn] = co_await io_.write(uc.buf.data(), {});
        bytes_out_ += wn;
        uc.buf.consume(uc.buf.size());
        if (wec) co_return;
    }
}

}  // namespace gatehouse::http
