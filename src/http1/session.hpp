#pragma once
// Entry point of the data plane: serve one accepted client connection on the worker's thread.
#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace gatehouse::net {
struct listener_state;
}  // namespace gatehouse::net

namespace gatehouse::http {
class session_host;
}

namespace gatehouse::http1 {

using http::session_host;

void start_session(session_host& w, std::shared_ptr<net::listener_state> l, boost::asio::ip::tcp::socket sock,
                   const boost::asio::ip::tcp::endpoint& peer);

}  // namespace gatehouse::http1
