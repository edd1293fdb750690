#pragma once
// Asynchronous DNS on the control thread through c-ares: its sockets are watched by the
// io_context (readiness waits, no thread of its own), its retransmission timer is one
// steady_timer. A (AAAA) lookups report the records' TTLs; SRV queries their records.
// Callbacks are posted to the io_context, never called from inside a c-ares call.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/discovery/provider.hpp"
#include "gatehouse/config/units.hpp"

struct ares_channeldata;

namespace gatehouse::discovery::dns {

enum class family { any, ipv4, ipv6 };

struct address {
    std::string ip;
    std::chrono::seconds ttl{0};
};

struct srv_record {
    std::string target;
    std::uint16_t port = 0, priority = 0, weight = 0;
};

class resolver : public std::enable_shared_from_this<resolver> {
public:
    // `servers` empty: /etc/resolv.conf. Throws std::runtime_error when c-ares cannot start.
    static std::shared_ptr<resolver> create(boost::asio::io_context& ioc, const std::vector<config::host_port>& servers,
                                            std::chrono::milliseconds timeout);
    ~resolver();

    using lookup_done = std::function<void(std::string error, std::vector<address>)>;
    using srv_done = std::function<void(std::string error, std::vector<srv_record>)>;
    void lookup(const std::string& host, family f, lookup_done done);
    void srv(const std::string& name, srv_done done);
    // Cancels everything pending (their callbacks report "cancelled") and stops watching sockets.
    void shutdown();

    // c-ares entry points (public for the C callbacks).
    void on_socket_state(int fd, bool readable, bool writable);
    void post(std::function<void()> f);

private:
    explicit resolver(boost::asio::io_context& ioc);
    struct watched;
    void arm(const std::shared_ptr<watched>& w);
    void process(int read_fd, int write_fd);
    void schedule_timeout();

    boost::asio::io_context& ioc_;
    ares_channeldata* channel_ = nullptr;
    std::map<int, std::shared_ptr<watched>> sockets_;
    boost::asio::steady_timer timer_;
    bool shut_ = false;
};

// Turns configured endpoints into resolved ones: IP literals as they are, names through `r`
// (every address of every name; r may be null when every host is an IP). Any name that fails
// fails the whole set (the caller keeps its last good one). `min_ttl` is the smallest record TTL.
void resolve_endpoints(const std::shared_ptr<resolver>& r, const std::vector<endpoint_spec>& specs, family f,
                       std::function<void(std::string error, std::vector<endpoint> eps, std::chrono::seconds min_ttl)> done);

bool all_literal(const std::vector<endpoint_spec>& specs);

}  // namespace gatehouse::discovery::dns
