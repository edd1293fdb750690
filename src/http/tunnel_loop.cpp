#include "http/tunnel_loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detail/descriptor_read_op.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <memory>

#include "net/edge_read.hpp"
#include "net/raw_syscalls.hpp"

namespace gatehouse::http {
// A buffer type whose "read" is epoll_wait on the tunnel set: the set's descriptor is watched by
// a read operation of Asio's (speculative, and edge-aware like net::edge_buffer) instead of a
// wait operation, because Asio re-arms a descriptor with epoll_ctl(EPOLL_CTL_MOD) for every
// wait it starts (0.5 epoll_ctl per wake-up, perf stat) and never for a read.
using tunnel_events = net::tagged_buffer<struct tunnel_events_tag>;
}  // namespace gatehouse::http

namespace boost::asio::detail {
// Ready events of the set into the buffer, bytes_transferred = their count; fewer than it holds:
// the set is drained (Asio waits for the descriptor's next edge: every event added to the set
// raises one).
template <>
inline reactor_op::status descriptor_read_op_base<gatehouse::http::tunnel_events>::do_perform(reactor_op* base) {
    auto* o = static_cast<descriptor_read_op_base*>(base);
    auto* evs = static_cast<epoll_event*>(o->buffers_.buf.data());
    const int max = static_cast<int>(o->buffers_.buf.size() / sizeof(epoll_event));
    for (;;) {
        const int n = ::epoll_wait(o->descriptor_, evs, max, 0);
        if (n > 0) {
            o->ec_ = boost::system::error_code();
            o->bytes_transferred_ = static_cast<std::size_t>(n);
            return n < max ? done_and_exhausted : done;
        }
        if (n == 0) {
            o->ec_ = boost::asio::error::would_block;
            return not_done;
        }
        if (errno == EINTR) continue;
        o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
        o->bytes_transferred_ = 0;
        return done;
    }
}
}  // namespace boost::asio::detail

namespace gatehouse::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t k_buffer = 16384;  // per direction, as the coroutine pumps read
// Rounds of read-and-write one event may take before other tunnels and the rest of the worker
// get a turn (a firehose on loopback would otherwise hold the thread); the tunnel continues
// from a posted handler.
constexpr int k_rounds_per_turn = 32;
constexpr std::size_t k_events = 64;
}  // namespace

struct tunnel_loop::tunnel {
    struct side {
        tunnel* owner = nullptr;
        int fd = -1;
        bool readable = false;  // as far as we know: set by an event, cleared by a read that drained it
        bool writable = false;
        bool hung_up = false;   // a FIN or an error was seen: a short read is not "drained", the end is next
    };
    struct pending {  // bytes read from one side, not yet written to the other
        std::unique_ptr<char[]> data = std::make_unique<char[]>(k_buffer);
        std::size_t begin = 0, end = 0;
        std::size_t moved = 0;
    };

    tunnel_loop& loop;
    side s[2];     // 0: the client, 1: the upstream
    pending p[2];  // p[d]: from s[d] to s[1 - d]
    net::clock::time_point last = net::coarse_now();
    bool ended = false;
    bool deferred = false;  // in loop.again_
    asio::steady_timer wake;

    tunnel(tunnel_loop& l, const asio::any_io_executor& ex) : loop(l), wake(ex, asio::steady_timer::time_point::max()) {
        s[0].owner = s[1].owner = this;
    }
    ~tunnel() {  // normally the sockets have their descriptors back; only when torn down mid-way
        for (auto& x : s)
            if (x.fd >= 0) ::close(x.fd);
    }

    void end() {
        ended = true;
        wake.cancel();
    }

    void on_event(side& x, std::uint32_t ev) {
        if (ended) return;
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) x.hung_up = true;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) x.readable = true;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) x.writable = true;
        if (pump()) loop.defer(this);
    }

    // Moves what can move now, both ways. True when it stopped at its share and more may wait.
    bool pump() {
        for (int round = 0; round < k_rounds_per_turn; ++round) {
            const bool a = move(0), b = move(1);
            if (ended || !(a || b)) return false;
        }
        return true;
    }

    // One direction: write what is pending, then read more. True if bytes moved.
    bool move(int d) {
        auto& from = s[d];
        auto& to = s[1 - d];
        auto& b = p[d];
        bool moved = false;
        while (!ended) {
            if (b.begin < b.end) {
                if (!to.writable) break;
                const auto n = net::sys_send(to.fd, b.data.get() + b.begin, b.end - b.begin, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK) to.writable = false;
                    else end();
                    break;
                }
                b.begin += static_cast<std::size_t>(n);
                b.moved += static_cast<std::size_t>(n);
                moved = true;
                if (b.begin == b.end) b.begin = b.end = 0;
                continue;  // a partial write: the next send finds the buffer full (EAGAIN) or takes more
            }
            if (!from.readable) break;
            const auto n = net::sys_recv(from.fd, b.data.get(), k_buffer, MSG_DONTWAIT);
            if (n > 0) {
                b.end = static_cast<std::size_t>(n);
                // A short read drained the socket: wait for its next edge (as nginx does).
                if (b.end < k_buffer && !from.hung_up) from.readable = false;
                last = net::coarse_now();
                moved = true;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                from.readable = false;
                break;
            }
            end();  // the end of the stream (the tunnel ends with either side), or an error
        }
        return moved;
    }
};

tunnel_loop::~tunnel_loop() = default;

tunnel_loop::tunnel_loop(asio::io_context& ioc) : watcher_(ioc), events_(std::make_unique<epoll_event[]>(k_events)) {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return;  // not usable(): tunnels use the coroutine pumps
    boost::system::error_code ec;
    watcher_.assign(fd, ec);
    if (ec) ::close(fd);
}

void tunnel_loop::watch() {
    if (watching_) return;
    watching_ = true;
    tunnel_events evs{asio::buffer(events_.get(), k_events * sizeof(epoll_event))};
    watcher_.async_read_some(evs, [this](const boost::system::error_code& ec, std::size_t n) {
        watching_ = false;
        if (!ec) dispatch(n);
        if (active_ > 0) watch();  // (a cancel that raced a new tunnel: watch again)
    });
}

void tunnel_loop::dispatch(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        auto* x = static_cast<tunnel::side*>(events_[i].data.ptr);
        x->owner->on_event(*x, events_[i].events);
    }
}

void tunnel_loop::defer(tunnel* t) {
    if (!t->deferred) {
        t->deferred = true;
        again_.push_back(t);
    }
    if (again_posted_) return;
    again_posted_ = true;
    asio::post(watcher_.get_executor(), [this] {
        again_posted_ = false;
        auto turn = std::move(again_);
        again_.clear();
        for (auto* t : turn) t->deferred = false;
        for (auto* t : turn)
            if (!t->ended && t->pump()) defer(t);
    });
}

asio::awaitable<tunnel_loop::result> tunnel_loop::run(tcp::socket& client, tcp::socket& upstream, net::clock::duration idle) {
    tunnel t(*this, co_await asio::this_coro::executor);
    boost::system::error_code ec;
    tcp::socket* socks[2] = {&client, &upstream};
    tcp protocol[2] = {tcp::v4(), tcp::v4()};
    for (int i = 0; i < 2; ++i) {
        protocol[i] = socks[i]->local_endpoint(ec).protocol();
        // Out of Asio's reactor (nothing is pending on either socket here): events come to our set.
        t.s[i].fd = socks[i]->release(ec);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &t.s[i];
        // Adding a socket reports its readiness at once (bytes that came before, a writable
        // buffer): the first events set the flags.
        if (t.s[i].fd < 0 || ::epoll_ctl(watcher_.native_handle(), EPOLL_CTL_ADD, t.s[i].fd, &ev) != 0) t.ended = true;
    }
    ++active_;
    watch();
    while (!t.ended) {
        t.wake.expires_at(t.last + idle);
        co_await t.wake.async_wait(asio::as_tuple(asio::use_awaitable));
        if (!t.ended && net::coarse_now() - t.last >= idle) t.ended = true;  // idle both ways for `idle`
    }
    --active_;
    if (active_ == 0) watcher_.cancel(ec);
    if (t.deferred) std::erase(again_, &t);
    // Back to Asio: the session and the pool close them as they close any connection.
    for (int i = 0; i < 2; ++i) {
        if (t.s[i].fd < 0) continue;
        ::epoll_ctl(watcher_.native_handle(), EPOLL_CTL_DEL, t.s[i].fd, nullptr);
        socks[i]->assign(protocol[i], t.s[i].fd, ec);
        if (!ec) t.s[i].fd = -1;  // else the tunnel's destructor closes it
    }
    co_return result{t.p[0].moved, t.p[1].moved};
}

}  // namespace gatehouse::http
