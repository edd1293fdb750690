#include "admin/admin_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
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
    impl(asio::io_context& ioc, const tcp::endpoint& ep, admin_hooks h) : acceptor(ioc, ep), hooks(std::move(h)) {}
    tcp::acceptor acceptor;
    admin_hooks hooks;

    http::response<http::string_body> handle(const http::request<http::string_body>& req) {
        http::response<http::string_body> res;
        res.version(11);
        res.set(http::field::content_type, "text/plain");
        auto target = std::string(req.target());
        auto reply = [&](http::status s, std::string body) {
            res.result(s);
            res.body() = std::move(body);
        };
        if (target == "/-/healthy" && req.method() == http::verb::get) reply(http::status::ok, "ok\n");
        else if (target == "/-/ready" && req.method() == http::verb::get) {
            bool r = hooks.ready && hooks.ready();
            reply(r ? http::status::ok : http::status::service_unavailable, r ? "ready\n" : "not ready\n");
        } else if (target == "/-/reload" && req.method() == http::verb::post && hooks.reload) {
            auto err = hooks.reload();
            if (err.empty()) reply(http::status::ok, "reloaded\n");
            else reply(http::status::bad_request, err + "\n");
        } else if (target == "/-/healthy" || target == "/-/ready" || target == "/-/reload") {
            reply(http::status::method_not_allowed, "method not allowed\n");
        } else {
            reply(http::status::not_found, "not found\n");
        }
        res.prepare_payload();
        return res;
    }

    static asio::awaitable<void> session(impl* self, tcp::socket sock) {
        beast::tcp_stream stream(std::move(sock));
        beast::flat_buffer buffer(64 * 1024);
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(64 * 1024);
            stream.expires_after(30s);
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            auto req = parser.release();
            auto res = self->handle(req);
            res.keep_alive(req.keep_alive());
            stream.expires_after(30s);
            auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec || !res.keep_alive()) break;
        }
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    static asio::awaitable<void> accept_loop(impl* self) {
        for (;;) {
            auto [ec, sock] = co_await self->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (!self->acceptor.is_open()) co_return;
                continue;
            }
            asio::co_spawn(self->acceptor.get_executor(), session(self, std::move(sock)), asio::detached);
        }
    }
};

admin_server::admin_server(asio::io_context& ioc, const tcp::endpoint& ep, admin_hooks hooks)
    : impl_(std::make_unique<impl>(ioc, ep, std::move(hooks))) {}

admin_server::~admin_server() = default;

std::uint16_t admin_server::port() const { return impl_->acceptor.local_endpoint().port(); }

void admin_server::start() { asio::co_spawn(impl_->acceptor.get_executor(), impl::accept_loop(impl_.get()), asio::detached); }

void admin_server::stop() {
    beast::error_code ec;
    impl_->acceptor.close(ec);
}

}  // namespace gatehouse::admin
