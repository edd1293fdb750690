#pragma once
// The plain-TCP tunnels of one worker (WebSocket and other upgrades after a 101), moved off
// Asio's per-operation machinery. A tunnelled message is a read on one socket and a write on the
// other, and through Asio's operations each read costs ~1,300 instructions of reactor queues,
// scheduler lock, type-erased executors and coroutine resumption: twice what nginx spends on the
// whole message (docs/benchmarks.md, "WebSocket echo"). Here both sockets leave Asio's reactor
// for the life of the tunnel and join an epoll set of this worker's own, edge-triggered, watched
// by one Asio read on its descriptor (tunnel_events); each event is served as nginx serves it: read until a
// short read, write what the other side takes, remember readiness. TLS tunnels stay on the
// coroutine pumps (tunnel.cpp): their records need OpenSSL between read and write.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <memory>
#include <vector>

struct epoll_event;

#include "net/deadlines.hpp"

namespace gatehouse::http {

class tunnel_loop {
public:
    explicit tunnel_loop(boost::asio::io_context& ioc);
    ~tunnel_loop();
    tunnel_loop(const tunnel_loop&) = delete;
    tunnel_loop& operator=(const tunnel_loop&) = delete;

    struct result {
        std::size_t to_upstream = 0;  // bytes
        std::size_t to_client = 0;
    };
    // Moves bytes both ways between two connected plain sockets until either side closes or
    // fails, or nothing moved for `idle`. The sockets are back in Asio's hands (open) after.
    // False from usable(): no epoll set (use the coroutine pumps).
    boost::asio::awaitable<result> run(boost::asio::ip::tcp::socket& client, boost::asio::ip::tcp::socket& upstream,
                                       net::clock::duration idle);
    bool usable() const { return watcher_.is_open(); }

    struct tunnel;  // tunnel_loop.cpp

private:
    void watch();
    void dispatch(std::size_t n);  // the first n of events_
    void defer(tunnel* t);  // its share of one turn taken: continues from a posted handler

    boost::asio::posix::stream_descriptor watcher_;  // the epoll set's descriptor, in Asio's reactor
    std::unique_ptr<epoll_event[]> events_;
    std::size_t active_ = 0;
    bool watching_ = false;
    std::vector<tunnel*> again_;
    bool again_posted_ = false;
};

}  // namespace gatehouse::http
