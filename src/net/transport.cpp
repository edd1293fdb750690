#include "net/transport.hpp"

#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>

namespace gatehouse::net {

namespace asio = boost::asio;
namespace {
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t k_record = 16384;             // TLS plaintext record limit
constexpr std::size_t k_in_size = 16384 + 256 + 5;  // one whole record, as OpenSSL's own buffer

// Drops the first k bytes of a-then-b (k bytes of them were sent).
void consume(std::string_view& a, std::string_view& b, std::size_t k) {
    const auto from_a = std::min(k, a.size());
    a.remove_prefix(from_a);
    b.remove_prefix(k - from_a);
}
}  // namespace

// The BIO between OpenSSL and the transport: reads drain in_, writes send(2) on the socket.
struct transport_bio {
    static BIO_METHOD* method() {
        static BIO_METHOD* m = [] {
            BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gatehouse transport");
            BIO_meth_set_read_ex(bm, read);
            BIO_meth_set_write_ex(bm, write);
            BIO_meth_set_ctrl(bm, ctrl);
            BIO_meth_set_create(bm, [](BIO* b) {
                BIO_set_init(b, 1);
                return 1;
            });
            return bm;
        }();
        return m;
    }

    static int read(BIO* b, char* out, std::size_t n, std::size_t* got) {
        auto* t = static_cast<transport*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        std::size_t have = t->in_end_ - t->in_begin_;
        if (have == 0) {
            if (!t->in_eof_) BIO_set_retry_read(b);  // settle() fills in_ and OpenSSL asks again
            return 0;
        }
        std::size_t k = n < have ? n : have;
        std::memcpy(out, t->in_.get() + t->in_begin_, k);
        t->in_begin_ += k;
        *got = k;
        return 1;
    }

    static int write(BIO* b, const char* p, std::size_t n, std::size_t* put) {
        auto* t = static_cast<transport*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        if (t->corked_) {
            t->cork_.append(p, n);
            *put = n;
            return 1;
        }
        for (;;) {
            ssize_t r = sys_send(t->sock_.native_handle(), p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r >= 0) {
                *put = static_cast<std::size_t>(r);
                return 1;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
            else t->write_errno_ = errno;
            return 0;
        }
    }

    static long ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }  // writes are never buffered here
};

transport::~transport() {
    if (!ssl_) return;
    // OpenSSL marks the session of an SSL freed without a shutdown as not resumable; a connection
    // that simply ends (idle close, Connection: close) did nothing wrong, so its session stays good.
    if (!failed_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);  // frees the BIO too
}

asio::awaitable<transport::error_code> transport::handshake(SSL* ssl, bool server) {
    ssl_ = ssl;
    // Partial writes let tls_write_all count progress; OpenSSL's buffers go back to its pool when
    // a connection is idle, as in nginx, so an idle keep-alive connection does not hold 34 KiB.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    BIO* bio = BIO_new(transport_bio::method());
    if (!bio) {
        failed_ = true;
        co_return error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
    }
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_, bio, bio);
    in_ = std::make_unique_for_overwrite<char[]>(k_in_size);
    if (server) SSL_set_accept_state(ssl_);
    else SSL_set_connect_state(ssl_);
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(ssl_);
        if (r == 1) co_return error_code{};
        auto ec = co_await settle(r);
        if (ec) co_return ec;
    }
}

asio::awaitable<transport::error_code> transport::settle(int r) {
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) {
        // OpenSSL has read everything in in_: refill it with Asio's own read (it tries recv, and
        // waits for the socket's next edge only if that would block).
        in_begin_ = in_end_ = 0;
        ensure_in();
        auto [ec, n] = co_await sock_.async_read_some(edge_read_buffer(in_.get(), k_in_size), nothrow_awaitable);
        if (ec == asio::error::eof) in_eof_ = true;  // OpenSSL sees the end next and says which kind
        else if (ec) co_return ec;
        in_end_ = n;
        co_return error_code{};
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        auto [ec] = co_await sock_.async_wait(tcp::socket::wait_write, nothrow_awaitable);
        co_return ec;
    }
    if (e == SSL_ERROR_ZERO_RETURN) co_return error_code(asio::error::eof);  // close_notify
    failed_ = true;
    error_code ec;
    if (e == SSL_ERROR_SYSCALL && write_errno_ != 0) {
        ec = error_code(write_errno_, asio::error::get_system_category());
    } else {
        unsigned long err = ERR_peek_last_error();
        if (e == SSL_ERROR_SYSCALL || ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ec = asio::ssl::error::stream_truncated;
        else ec = error_code(static_cast<int>(err), asio::error::get_ssl_category());
    }
    ERR_clear_error();
    co_return ec;
}

void transport::ensure_in() {
    if (!in_) in_ = std::make_unique_for_overwrite<char[]>(k_in_size);  // released while idle
}

bool transport::quiet() const { return !ssl_ || (in_begin_ == in_end_ && SSL_pending(ssl_) == 0 && !in_eof_ && !failed_ && !corked_); }

void transport::move_to(transport& to) {
    to.ssl_ = std::exchange(ssl_, nullptr);
    if (to.ssl_) BIO_set_data(SSL_get_rbio(to.ssl_), &to);  // one BIO reads and writes
    to.failed_ = failed_;
    to.in_eof_ = in_eof_;
    to.write_errno_ = write_errno_;
    to.in_ = std::move(in_);
    to.in_begin_ = std::exchange(in_begin_, 0);
    to.in_end_ = std::exchange(in_end_, 0);
    to.scratch_ = std::move(scratch_);
    to.corked_ = corked_;
    to.cork_ = std::move(cork_);
}

void transport::release_idle_memory() {
    std::string().swap(scratch_);
    std::string().swap(cork_);
    if (ssl_ && in_begin_ == in_end_ && SSL_pending(ssl_) == 0) in_.reset();
}

std::ptrdiff_t transport::try_write(std::string_view a, std::string_view b) {
    if (ssl_) return 0;
    std::size_t done = 0;
    while (!a.empty() || !b.empty()) {
        iovec iov[2];
        std::size_t count = 0;
        if (!a.empty()) iov[count++] = {const_cast<char*>(a.data()), a.size()};
        if (!b.empty()) iov[count++] = {const_cast<char*>(b.data()), b.size()};
        const auto w = sys_sendv(sock_.native_handle(), iov, count, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        consume(a, b, static_cast<std::size_t>(w));
        done += static_cast<std::size_t>(w);
    }
    return static_cast<std::ptrdiff_t>(done);
}

asio::awaitable<std::tuple<transport::error_code, std::size_t>> transport::plain_write(std::string_view a, std::string_view b) {
    const auto sent = try_write(a, b);
    if (sent < 0) co_return std::tuple{error_code(errno, boost::system::system_category()), std::size_t{0}};
    auto n = static_cast<std::size_t>(sent);
    if (n == a.size() + b.size()) co_return std::tuple{error_code(), n};
    consume(a, b, n);
    std::array<asio::const_buffer, 2> rest{asio::buffer(a.data(), a.size()), asio::buffer(b.data(), b.size())};
    auto [ec, m] = co_await asio::async_write(sock_, rest, nothrow_awaitable);
    co_return std::tuple{ec, n + m};
}

transport::try_result transport::try_read(char* p, std::size_t n) {
    const int fd = sock_.native_handle();
    if (!ssl_) {
        auto k = sys_recv(fd, p, n, MSG_DONTWAIT);
        if (k > 0) return {try_result::data, static_cast<std::size_t>(k)};
        if (k == 0) return {try_result::eof};
        return {errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? try_result::would_block : try_result::error};
    }
    for (;;) {
        ERR_clear_error();
        std::size_t got = 0;
        int r = SSL_read_ex(ssl_, p, n, &got);
        if (r == 1) return {try_result::data, got};
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ && !in_eof_) {
            ensure_in();
            in_begin_ = in_end_ = 0;
            auto k = sys_recv(fd, in_.get(), k_in_size, MSG_DONTWAIT);
            if (k > 0) in_end_ = static_cast<std::size_t>(k);
            else if (k == 0) in_eof_ = true;  // OpenSSL says which kind of end on the next call
            else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {try_result::would_block};
            else return {try_result::error};
            continue;
        }
        if (e == SSL_ERROR_WANT_WRITE) return {try_result::busy};
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN) return {try_result::eof};
        failed_ = true;
        return {try_result::error};
    }
}

asio::awaitable<std::tuple<transport::error_code, std::size_t>> transport::tls_read_some(char* p, std::size_t n) {
    for (;;) {
        ERR_clear_error();
        std::size_t got = 0;
        int r = SSL_read_ex(ssl_, p, n, &got);
        if (r == 1) co_return std::make_tuple(error_code{}, got);
        auto ec = co_await settle(r);
        if (ec) co_return std::make_tuple(ec, std::size_t{0});
    }
}

asio::awaitable<std::tuple<transport::error_code, std::size_t>> transport::tls_write_all(const char* p, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
        ERR_clear_error();
        std::size_t w = 0;
        int r = SSL_write_ex(ssl_, p + done, n - done, &w);
        if (r == 1) {
            done += w;
            continue;
        }
        auto ec = co_await settle(r);
        if (ec) co_return std::make_tuple(ec, done);
    }
    co_return std::make_tuple(error_code{}, done);
}

asio::awaitable<std::tuple<transport::error_code, std::size_t>> transport::tls_write(std::string_view a, std::string_view b) {
    if (!a.empty() && !b.empty() && a.size() + b.size() <= k_record) {
        // A head and a small body: one record and one send instead of two.
        scratch_.assign(a);
        scratch_.append(b);
        co_return co_await tls_write_all(scratch_.data(), scratch_.size());
    }
    if (!a.empty() && !b.empty() && a.size() + b.size() <= 4 * k_record) {
        // A head and a larger body: their records go out in one write, not one per record.
        corked_ = true;
        cork_.clear();
        auto [ec, n] = co_await tls_write_all(a.data(), a.size());  // never waits: the BIO only appends
        if (!ec) std::tie(ec, n) = co_await tls_write_all(b.data(), b.size());
        corked_ = false;
        if (!ec) std::tie(ec, std::ignore) = co_await asio::async_write(sock_, asio::buffer(cork_), nothrow_awaitable);
        if (cork_.capacity() > 2 * k_in_size) std::string().swap(cork_);  // idle connections keep no 64 KiB
        co_return std::make_tuple(ec, ec ? std::size_t{0} : a.size() + b.size());
    }
    auto [ec, n] = co_await tls_write_all(a.data(), a.size());
    if (ec || b.empty()) co_return std::make_tuple(ec, n);
    auto [ec2, n2] = co_await tls_write_all(b.data(), b.size());
    co_return std::make_tuple(ec2, n + n2);
}

void transport::close_notify() {
    if (!ssl_ || failed_ || !SSL_is_init_finished(ssl_)) return;
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one attempt: the connection closes next whatever the peer does
    ERR_clear_error();
}

}  // namespace gatehouse::net
