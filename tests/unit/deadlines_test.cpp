// net::deadline_list: the worker's tick cancels the pending I/O of sockets past their deadline,
// and while draining, of connections idle for the grace period; nothing else.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include "net/deadlines.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace gatehouse::net;

namespace {

// A connected pair on loopback; `reads` is pending on the server side until cancelled or fed.
struct pair_with_read {
    asio::io_context ioc;
    tcp::socket client{ioc}, server{ioc};
    char byte = 0;
    bool done = false;
    boost::system::error_code ec;
    pair_with_read() {
        tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acc.local_endpoint());
        acc.accept(server);
        server.async_read_some(asio::buffer(&byte, 1), [this](boost::system::error_code e, std::size_t) {
            ec = e;
            done = true;
        });
    }
    void settle() {
        ioc.restart();
        ioc.poll();
    }
};

}  // namespace

TEST(Deadlines, TickCancelsOnlyWhatIsDue) {
    pair_with_read p;
    deadline_list list;
    deadline d(list, p.server);
    EXPECT_EQ(list.size(), 1u);
    d.arm(std::chrono::seconds(10));
    list.tick(coarse_now(), false);
    p.settle();
    EXPECT_FALSE(p.done);
    EXPECT_FALSE(d.fired());
    list.tick(coarse_now() + std::chrono::seconds(11), false);
    p.settle();
    EXPECT_TRUE(p.done);
    EXPECT_EQ(p.ec, asio::error::operation_aborted);
    EXPECT_TRUE(d.fired());  // the session tells its own timeout from a peer's error by this
    d.arm(std::chrono::seconds(1));
    EXPECT_FALSE(d.fired());  // re-arming clears it
}

TEST(Deadlines, DisarmedNeverFiresAndRemovalUnlinks) {
    pair_with_read p;
    deadline_list list;
    {
        deadline d(list, p.server);
        d.arm(std::chrono::milliseconds(1));
        d.disarm();
        list.tick(coarse_now() + std::chrono::hours(24), false);
        p.settle();
        EXPECT_FALSE(p.done);
        EXPECT_FALSE(d.fired());
    }
    EXPECT_EQ(list.size(), 0u);
    list.tick(coarse_now() + std::chrono::hours(48), true);  // nothing left to touch
}

TEST(Deadlines, DrainingClosesConnectionsIdleForTheGraceOnly) {
    pair_with_read idle, busy;
    deadline_list list;
    deadline di(list, idle.server), db(list, busy.server);
    di.arm(std::chrono::hours(1));
    db.arm(std::chrono::hours(1));
    di.set_idle(true);
    list.tick(coarse_now(), true);  // idle, but not yet for the grace period
    idle.settle();
    EXPECT_FALSE(idle.done);
    list.tick(coarse_now() + k_drain_idle_grace + std::chrono::milliseconds(10), false);  // not draining
    idle.settle();
    EXPECT_FALSE(idle.done);
    list.tick(coarse_now() + k_drain_idle_grace + std::chrono::milliseconds(10), true);
    idle.settle();
    busy.settle();
    EXPECT_TRUE(idle.done);
    EXPECT_TRUE(di.fired());
    EXPECT_FALSE(busy.done);  // in the middle of a request: it finishes, answered with Connection: close
}
