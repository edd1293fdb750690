#pragma once
// The bytes of one connection, client or upstream: plain TCP, or TLS once handshake() ran.
//
// TLS: OpenSSL talks to the socket through a small BIO of ours. Reads come from in_, which Asio
// fills with the socket's own read operation (a whole record or more per recv, and no epoll_ctl
// per wait); writes go straight to send(2), or, for a head and a body larger than one record, into
// one buffer sent with one write (the records of one response leave together). Asio's ssl::stream puts a
// BIO pair and two zero-filled 17 KiB buffers between OpenSSL and the socket instead: per new
// connection about 50 000 instructions of memset and malloc and a copy of every record; a plain
// socket BIO costs an epoll_ctl per wait instead (docs/benchmarks.md, "HTTPS termination").
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "net/edge_read.hpp"

namespace gatehouse::net {

class transport {
public:
    using error_code = boost::system::error_code;
    using tcp = boost::asio::ip::tcp;

    explicit transport(tcp::socket& s) : sock_(s) {}
    ~transport();
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    // Takes ownership of `ssl` (configured by the caller: context, SNI, verification) and runs the
    // handshake on the socket. The caller's deadline cancels it by cancelling the socket.
    boost::asio::awaitable<error_code> handshake(SSL* ssl, bool server);

    // At most n bytes. eof: the peer closed cleanly (TLS: close_notify); a TLS stream cut without
    // close_notify is boost::asio::ssl::error::stream_truncated, never eof.
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> read_some(char* p, std::size_t n) {
        if (!ssl_) return sock_.async_read_some(edge_read_buffer(p, n), boost::asio::as_tuple(boost::asio::use_awaitable));
        return tls_read_some(p, n);
    }
    // All of a, then all of b (one TLS record when they fit in one). Plain TCP: sent at once
    // with one sendmsg(2) when the socket buffer takes it, as nginx writes (an Asio write that
    // completes at once still queues its completion behind the reactor: an epoll_wait that finds
    // nothing, then a resumption from the queue); only the rest waits for the socket.
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> write(std::string_view a, std::string_view b = {}) {
        if (!ssl_) return plain_write(a, b);
        return tls_write(a, b);
    }

    // Completes when the socket has bytes to read (or an error): an idle connection waits here
    // holding no read buffer. Only when TLS has nothing buffered (after a read found nothing).
    boost::asio::awaitable<std::tuple<error_code>> wait_readable() {
        return sock_.async_wait(boost::asio::ip::tcp::socket::wait_read, boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    // Gives back the buffers an idle connection does not need (TLS: the record buffer when
    // OpenSSL holds nothing unread); the next read allocates again.
    void release_idle_memory();
    // One read that never waits: the bytes, or would_block (nothing there), eof, busy (TLS wants
    // to write first: use read_some), error.
    struct try_result {
        enum kind_t { data, would_block, eof, busy, error } kind;
        std::size_t n = 0;
    };
    try_result try_read(char* p, std::size_t n);
    // Plain TCP: what send(2) takes now, without a trip through Asio's scheduler (a write that
    // completes at once still posts its completion and resumes the caller from the queue). The
    // bytes sent: 0 on TLS or when the socket buffer is full (use write() for the rest); -1 when
    // the connection failed (errno says why).
    std::ptrdiff_t try_write(std::string_view a, std::string_view b = {});
    // Nothing received that the connection has not read yet (plain: always): its state may move.
    bool quiet() const;
    // Hands the connection's TLS state (the SSL object, its BIO's link, buffers) to `to`, a
    // transport on the socket the connection moved to; this one is left plain and empty.
    void move_to(transport& to);
    bool secure() const { return ssl_ != nullptr; }
    SSL* ssl() const { return ssl_; }
    // Sends TLS close_notify if it can without waiting; before closing the socket.
    void close_notify();

private:
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> plain_write(std::string_view a, std::string_view b);
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> tls_read_some(char* p, std::size_t n);
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> tls_write(std::string_view a, std::string_view b);
    boost::asio::awaitable<std::tuple<error_code, std::size_t>> tls_write_all(const char* p, std::size_t n);
    // After an SSL call returned r <= 0: waits for the readiness it asked for (empty code: call
    // again), or the error that ends the operation.
    boost::asio::awaitable<error_code> settle(int r);
    void ensure_in();  // the record buffer, allocated again after an idle release

    friend struct transport_bio;
    tcp::socket& sock_;
    SSL* ssl_ = nullptr;
    bool failed_ = false;         // a fatal TLS error: no close_notify
    bool in_eof_ = false;         // the peer closed its side: the BIO reports end of stream
    int write_errno_ = 0;         // why send(2) failed, for SSL_ERROR_SYSCALL
    std::unique_ptr<char[]> in_;  // received TLS bytes OpenSSL has not read yet
    std::size_t in_begin_ = 0, in_end_ = 0;
    std::string scratch_;  // coalesces a head and a small body into one record
    bool corked_ = false;  // the BIO appends records to cork_ instead of sending them
    std::string cork_;     // records of a head and a larger body, sent with one write
};

}  // namespace gatehouse::net
