#pragma once
// One pipelined connection to Redis on one worker's event loop (private to src/redis): commands
// are written as they come (coalesced while a write is in flight) and replies matched to them in
// order. A caller waits on a timer of its own that the reply cancels, so a command that times
// out just stops waiting (its reply, if it ever comes, is read and dropped in turn). Three
// failures in a row open the breaker: calls return `unavailable` at once while a PING probe
// runs with backoff and jitter; its answer closes the breaker.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <string>

#include "redis/store.hpp"

namespace gatehouse::redis {

class connection : public std::enable_shared_from_this<connection> {
public:
    connection(boost::asio::io_context& ioc, const store_spec& spec, store_stats& stats, std::atomic<bool>& open_flag);
    boost::asio::awaitable<result> call(std::string command, std::chrono::steady_clock::time_point until);
    bool available() const { return !open_; }
    // The address in use, or the one the next connect tries.
    const address& current_address() const { return spec_.addresses[address_ % spec_.addresses.size()]; }
    boost::asio::io_context& ioc() { return ioc_; }
    void close();  // on this connection's thread

private:
    struct waiter {
        explicit waiter(boost::asio::io_context& ioc) : timer(ioc) {}
        boost::asio::steady_timer timer;
        result res;
        bool done = false;
    };
    enum class purpose { caller, auth, probe };
    struct pending {
        waiter* w = nullptr;  // null once the caller stopped waiting
        purpose what = purpose::caller;
    };

    boost::asio::awaitable<result> send(std::string command, std::chrono::steady_clock::time_point until, purpose what);
    void connect();
    void on_connected();
    void start_read();
    void flush();
    void on_reply(value v);
    void fail_all(const std::string& why);  // the connection is gone: every waiter gets an error
    void failure(const std::string& why);   // one failure towards the breaker
    void success();
    void schedule_probe();
    void probe();
    void finish(waiter* w, result r);

    boost::asio::io_context& ioc_;
    const store_spec& spec_;
    store_stats& stats_;
    std::atomic<bool>& open_flag_;
    boost::asio::ip::tcp::socket tcp_;
    boost::asio::local::stream_protocol::socket unix_;
    boost::asio::ip::tcp::resolver resolver_;
    bool use_unix_ = false;
    enum class state { closed, connecting, ready } state_ = state::closed;
    std::size_t address_ = 0;  // the one to try next
    std::deque<pending> queue_;
    std::string out_, writing_, in_;
    bool write_busy_ = false;
    unsigned failures_ = 0;  // in a row
    bool open_ = false;      // breaker
    bool probing_ = false;
    std::chrono::milliseconds backoff_{100};
    boost::asio::steady_timer probe_timer_;
    std::uint64_t epoch_ = 0;  // bumps when the socket is replaced: stale handlers see a new one
    std::uint64_t rng_;
};

}  // namespace gatehouse::redis
