#include "middleware/jwt/jwks_fetch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>

#include "util/text.hpp"

namespace gatehouse::middleware::jwt {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

namespace {

struct parsed_url {
    std::string host, port, target;
    bool https = false;
};

std::optional<parsed_url> parse_http_url(const std::string& url) {
    parsed_url u;
    std::string rest;
    if (url.starts_with("http://")) rest = url.substr(7);
    else if (url.starts_with("https://")) {
        rest = url.substr(8);
        u.https = true;
    } else return std::nullopt;
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto host = util::host_without_port(authority);
    u.host = std::string(host);
    u.port = host.size() < authority.size() ? authority.substr(host.size() + 1) : std::string(u.https ? "443" : "80");
    return u;
}

void fail(jwks_fetch_result& r, const char* type, const std::string& why) {
    r.error_type = type;
    r.error = std::string(type) + ": " + why;
}

template <class Stream>
asio::awaitable<void> get_over(Stream& stream, const parsed_url& u, jwks_fetch_result& out) {
    http::request<http::empty_body> req{http::verb::get, u.target, 11};
    req.set(http::field::host, u.host);
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "gatehouse");
    auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
    if (wec) {
        fail(out, "write", wec.message());
        co_return;
    }
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);  // a JWKS larger than 1 MiB is refused
    auto [rdec, rn] = co_await http::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
    if (parser.is_header_done()) out.status = static_cast<int>(parser.get().result_int());
    if (rdec) {
        fail(out, "read", rdec.message());
        co_return;
    }
    auto& res = parser.get();
    if (res.result_int() != 200) {
        out.error_type = std::to_string(res.result_int());
        out.error = "HTTP " + out.error_type;
        co_return;
    }
    out.ok = true;
    out.body = std::move(res.body());
    out.cache_control = std::string(res[http::field::cache_control]);
}

asio::awaitable<void> connect_and_get(const parsed_url& u, std::shared_ptr<SSL_CTX> tls, jwks_fetch_result& out) {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(u.host, u.port, asio::as_tuple(asio::use_awaitable));
    if (rec) {
        fail(out, "resolve", rec.message());
        co_return;
    }
    beast::tcp_stream stream(ex);
    stream.expires_after(5s);
    auto [cec, ep] = co_await stream.async_connect(results, asio::as_tuple(asio::use_awaitable));
    if (cec) {
        fail(out, "connect", cec.message());
        co_return;
    }
    out.peer_address = ep.address().to_string();
    out.peer_port = ep.port();
    if (!u.https) {
        co_await get_over(stream, u, out);
    } else {
        SSL* ssl = SSL_new(tls.get());
        SSL_set_tlsext_host_name(ssl, u.host.c_str());
        SSL_set1_host(ssl, u.host.c_str());
        asio::ssl::stream<beast::tcp_stream&> tls_stream(stream, ssl);
        auto [hec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
        if (hec) {
            fail(out, "tls", hec.message());
            co_return;
        }
        co_await get_over(tls_stream, u, out);
    }
    beast::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
}

}  // namespace

asio::awaitable<void> fetch_jwks(std::string url, std::shared_ptr<SSL_CTX> tls, std::function<void(jwks_fetch_result)> done) {
    jwks_fetch_result out;
    auto u = parse_http_url(url);
    if (!u) {
        fail(out, "url", "not an http:// or https:// URL");
    } else {
        out.host = u->host;
        out.port = u->port;
        co_await connect_and_get(*u, std::move(tls), out);
    }
    done(std::move(out));
}

}  // namespace gatehouse::middleware::jwt
