#pragma once
// Binary upgrade without downtime: the running process hands its listening sockets to the next
// one over a Unix socket (SCM_RIGHTS), then drains. The sockets never close, so connections
// waiting in their accept queues are not reset (closing a SO_REUSEPORT socket would reset them).
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace gatehouse::server {

struct inherited_socket {
    std::string key;  // listen_key(), or "admin:" + listen_key() for the admin listener
    int fd = -1;
};

// The running side: serves `path`; gives the sockets from `sockets()` to whoever asks, and calls
// `on_handed_over(pid)` once the new process confirms it is serving (its pid from SO_PEERCRED,
// 0 if unknown: systemd hears it as the new MAINPID).
class handover_server {
public:
    handover_server(boost::asio::io_context& ioc, std::string path, std::function<std::vector<inherited_socket>()> sockets,
                    std::function<void(pid_t)> on_handed_over);
    ~handover_server();

private:
    void accept();
    std::string path_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    std::function<std::vector<inherited_socket>()> sockets_;
    std::function<void(pid_t)> on_handed_over_;
};

// The new side, at start-up and blocking: the sockets of the process serving `path`, or nullopt
// when nobody serves it (a first start). Keep `connection` open until ready, then confirm().
struct takeover {
    std::vector<inherited_socket> sockets;
    int connection = -1;
    void confirm();  // "I am serving": the old process starts draining
    void abandon();  // failed to start: the old process keeps serving
};
std::optional<takeover> take_over(const std::string& path, std::string& error);

}  // namespace gatehouse::server
