#include "admin/admin_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace gatehouse::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct admin_server::impl {
    impl(asio::io_context& ioc, int fd, bool v6, admin_handler h, admin_tls_source t)
        : acceptor(ioc), handler(std::move(h)), tls(std::move(t)) {
        acceptor.assign(v6 ? tcp::v6() : tcp::v4(), fd);
    }
    tcp::acceptor acceptor;
    admin_handler handler;
    admin_tls_source tls;

    // Hands the request to the handler; its reply resumes the session (always through a post,
    // also when the handler answers at once).
    struct call_handler {
        impl* self;
        const admin_request* req;
        template <class Handler>
        void operator()(Handler h) {
            auto hp = std::make_shared<Handler>(std::move(h));
            auto ex = self->acceptor.get_executor();
            admin_reply reply = [hp, ex](admin_response r) { asio::post(ex, [hp, r = std::move(r)]() mutable { (*hp)(std::move(r)); }); };
            try {
                self->handler(*req, reply);
            } catch (const std::exception& e) {
                spdlog::error("admin {} {}: {}", req->method, req->target, e.what());
                reply({500, "application/json", std::string("{\"error\":\"internal error\"}"), {}});
            }
        }
    };

    // The request loop, over plain TCP or TLS.
    template <class Stream>
    static asio::awaitable<void> serve(impl* self, Stream& stream, bool client_verified) {
        beast::flat_buffer buffer(64 * 1024);
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(64 * 1024);
            beast::get_lowest_layer(stream).expires_after(30s);
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            auto req = parser.release();
            admin_request ar{std::string(req.method_string()), std::string(req.target()), req.body(),
                             std::string(req[http::field::authorization]), client_verified};
            call_handler call{self, &ar};
            admin_response out = co_await asio::async_initiate<decltype(asio::use_awaitable), void(admin_response)>(std::move(call),
                                                                                                                    asio::use_awaitable);
            http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
            res.set(http::field::content_type, out.content_type);
            res.set(http::field::cache_control, "no-store");
            // JSON that holds config names (markup, maybe) is never to be read as HTML.
            res.set("X-Content-Type-Options", "nosniff");
            for (auto& [name, value] : out.headers) res.set(name, value);
            res.body() = std::move(out.body);
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            if (req.method() == http::verb::head) {
                // The length a GET would get, and no body: one sent after a HEAD's head would be
                // read as the next response on a keep-alive connection.
                const auto length = res.body().size();
                res.body().clear();
                res.content_length(length);
            }
            beast::get_lowest_layer(stream).expires_after(30s);
            auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec || !res.keep_alive()) break;
        }
    }

    static asio::awaitable<void> session(impl* self, tcp::socket sock) {
        beast::tcp_stream stream(std::move(sock));
        // The context's SNI callback points at `ctx`: it lives until this connection ends.
        const auto ctx = self->tls ? self->tls() : nullptr;
        if (!self->tls) {
            co_await serve(self, stream, false);
        }
        if (ctx) {
            asio::ssl::stream<beast::tcp_stream&> tls_stream(stream, SSL_new(ctx->default_ctx()));
            stream.expires_after(ctx->config().handshake_timeout);
            auto [hec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
            if (!hec) {
                const bool verified = tls::client_identity(tls_stream.native_handle()).verified;
                co_await serve(self, tls_stream, verified);
            }
        }
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    static asio::awaitable<void> accept_loop(impl* self) {
        for (;;) {
            auto [ec, sock] = co_await self->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (!self->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
                // Out of descriptors (EMFILE) with a connection pending: retrying at once spins a
                // core (test_limits_and_faults caught it); wait a little, as the workers do.
                asio::steady_timer pause(self->acceptor.get_executor(), std::chrono::milliseconds(100));
                co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            asio::co_spawn(self->acceptor.get_executor(), session(self, std::move(sock)), asio::detached);
        }
    }
};

admin_server::admin_server(asio::io_context& ioc, int fd, bool v6, admin_handler handler, admin_tls_source tls)
    : impl_(std::make_unique<impl>(ioc, fd, v6, std::move(handler), std::move(tls))) {}

admin_server::~admin_server() = default;

std::uint16_t admin_server::port() const { return impl_->acceptor.local_endpoint().port(); }

int admin_server::native_handle() { return impl_->acceptor.native_handle(); }

void admin_server::start() { asio::co_spawn(impl_->acceptor.get_executor(), impl::accept_loop(impl_.get()), asio::detached); }

void admin_server::stop() {
    beast::error_code ec;
    impl_->acceptor.close(ec);
}

}  // namespace gatehouse::admin
