// An idle keep-alive connection without its session (issue #14 §3). After a second without a
// request, or at once when its worker holds many connections, a client connection gives up its
// client_connection (~2 KiB) and the coroutine frames suspended in it (~3 KiB): what waits for the
// client's next request is the socket, the listener's reference and counts, an idle deadline, the
// peer's address and, on TLS, the SSL object with what the handshake found — a few hundred bytes
// beside OpenSSL's own. When the client sends again, a new session starts on the same socket (no
// handshake); idle timeout, drain and shutdown close it as they close a session waiting between
// requests (TLS: close_notify).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"

namespace gatehouse::http1 {

struct idle_connection {
    explicit idle_connection(client_connection& c)
        : w(c.w_),
          listener(std::move(c.listener_)),
          sock(std::move(c.sock_)),
          dl(w.deadlines(), sock),
          peer(c.peer_),
          peer_text(std::move(c.peer_text_)),
          trusted_peer(c.trusted_peer_) {
        if (c.io_.secure()) {
            tls = std::make_unique<tls_state>(sock);
            c.io_.move_to(tls->io);
            tls->ctx = std::move(c.tls_ctx_);
            tls->client_id = std::move(c.client_id_);
            tls->version = std::move(c.tls_version_);
        }
        dl.arm(c.park_timeout_);
        dl.set_idle_since(c.dl_.idle_since());  // a drain closes it after the same grace as before
    }
    ~idle_connection() {
        if (!listener) return;  // it resumed as a session
        if (tls) tls->io.close_notify();
        connection_ended(w, *listener);
    }
    idle_connection(const idle_connection&) = delete;
    idle_connection& operator=(const idle_connection&) = delete;

    session_host& w;
    std::shared_ptr<net::listener_state> listener;
    tcp::socket sock;
    net::deadline dl;
    util::ip_address peer;
    std::string peer_text;
    bool trusted_peer;
    struct tls_state {  // apart: a plain connection does not carry its size
        explicit tls_state(tcp::socket& s) : io(s) {}
        net::transport io;  // the SSL object of the session that parked
        std::shared_ptr<const tls::server_context> ctx;
        tls::peer_identity client_id;
        std::string version;
    };
    std::unique_ptr<tls_state> tls;
};

client_connection::client_connection(idle_connection&& idle)
    : w_(idle.w),
      listener_(std::move(idle.listener)),
      sock_(std::move(idle.sock)),
      dl_(w_.deadlines(), sock_),
      buf_(16384, 65536),
      peer_(idle.peer),
      peer_text_(std::move(idle.peer_text)),
      trusted_peer_(idle.trusted_peer) {
    if (auto& t = idle.tls) {
        t->io.move_to(io_);
        tls_ctx_ = std::move(t->ctx);
        client_id_ = std::move(t->client_id);
        tls_version_ = std::move(t->version);
    }
    prepare();
}

void client_connection::park(std::unique_ptr<client_connection> self) {
    auto idle = std::make_unique<idle_connection>(*self);
    self.reset();
    auto& sock = idle->sock;
    // Readable: the client sent its next request, or closed (the session reads the EOF). An
    // error is the idle deadline or a drain cancelling the wait, or the worker stopping: the
    // connection closes without a word, as between requests.
    sock.async_wait(tcp::socket::wait_read, [idle = std::move(idle)](boost::system::error_code ec) mutable {
        if (ec) return;
        auto& w = idle->w;
        auto conn = std::make_unique<client_connection>(std::move(*idle));
        asio::co_spawn(w.ioc(), serve(std::move(conn)), asio::detached);
    });
}

}  // namespace gatehouse::http1
