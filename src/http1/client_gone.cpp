// The client's close noticed while nothing is read from it or written to it: a composition's
// calls run while the exchange waits on its own timer, and an HTTP/1.1 client that goes away
// then must cancel them (the upstreams see their connections close) instead of being noticed
// only when the answer is written.
#include <sys/socket.h>

#include <cerrno>

#include "http1/client_connection.hpp"

namespace gatehouse::http1 {

void client_connection::watch_gone(std::function<void()> gone) {
    if (io_.secure()) return;  // a TLS close_notify is bytes to read: not told apart from a next request
    unwatch_gone();
    watching_ = std::make_shared<bool>(true);
    // Neither `this` nor the socket is touched once the watch ended (the connection may be gone):
    // the handler has the flag and the descriptor, which is open while the flag holds.
    sock_.async_wait(tcp::socket::wait_read, [flag = watching_, fd = sock_.native_handle(), gone = std::move(gone)](boost::system::error_code ec) {
        if (ec || !*flag) return;
        *flag = false;
        char b;
        const auto n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        // 0: the client's FIN; an error other than "nothing yet": a reset. Bytes: a pipelined
        // request (or the rest of a body nobody read): the client is still there.
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) gone();
    });
}

void client_connection::unwatch_gone() {
    if (!watching_) return;
    const bool pending = *watching_;
    *watching_ = false;
    watching_.reset();
    if (!pending) return;
    boost::system::error_code ec;
    sock_.cancel(ec);  // the wait, the only operation on the socket while a composition waits
}

}  // namespace gatehouse::http1
