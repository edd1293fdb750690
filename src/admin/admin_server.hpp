#pragma once
// The transport of the admin listener (default 127.0.0.1:9901) and of the probes listener,
// served from the control thread with Beast. What each path answers is the handler's business
// (the daemon's handle_admin and handle_probes; JSON views in admin_api.cpp).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tls/server_context.hpp"

namespace gatehouse::admin {

struct admin_request {
    std::string method;
    std::string target;
    std::string body;
    std::string authorization;     // the Authorization field, if any (admin.auth)
    bool client_verified = false;  // over TLS, with a client certificate admin.tls.client_ca verified
};

struct admin_response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // more fields: Allow, WWW-Authenticate
};

// Answers by calling the reply once, now or later (the control thread must never wait for a
// worker: a reload answers once every worker has installed the new snapshot).
using admin_reply = std::function<void(admin_response)>;
using admin_handler = std::function<void(const admin_request&, admin_reply)>;
// HTTPS (admin.tls): the context for a new connection, asked once per connection so that a
// reloaded certificate counts for the next one (held until that connection's handshake ends).
using admin_tls_source = std::function<std::shared_ptr<const tls::server_context>()>;

class admin_server {
public:
    // Takes over an already listening socket (a native handle), so that a binary upgrade can
    // hand it to the next process like any other listener.
    // `tls` empty: plain HTTP.
    admin_server(boost::asio::io_context& ioc, int listening_fd, bool v6, admin_handler handler, admin_tls_source tls = {});
    ~admin_server();
    std::uint16_t port() const;
    int native_handle();
    void start();
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace gatehouse::admin
