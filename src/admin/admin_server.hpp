#pragma once
// The admin listener (default 127.0.0.1:9901), served from the control thread: liveness and
// readiness now; config, routes, upstreams, reloads and /metrics come with their issues.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace gatehouse::admin {

struct admin_hooks {
    std::function<bool()> ready;  // false while starting and draining
    std::function<std::string()> reload;  // POST /-/reload: "" on success, else the reason
};

class admin_server {
public:
    admin_server(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& ep, admin_hooks hooks);
    ~admin_server();
    std::uint16_t port() const;
    void start();
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace gatehouse::admin
