// WebSocket (and any protocol a route lets through) over HTTP/2: RFC 8441's extended CONNECT.
// The client's CONNECT with `:protocol` goes upstream as an HTTP/1.1 Upgrade (a GET with
// Connection: upgrade, Upgrade and, for WebSocket, a Sec-WebSocket-Key of gatehouse's own, whose
// Sec-WebSocket-Accept the upstream's 101 must carry). The 101 becomes the stream's 200, then the
// stream's DATA frames carry the tunnel's bytes both ways: the client's, credited to its flow
// control window only once written upstream (a slow upstream holds one window), the upstream's
// offered to nghttp2 as DATA the client's window lets out. The client's END_STREAM half-closes
// the upstream connection; the upstream's close ends the stream. Idle for the route's
// tunnel_idle_timeout (the connection's ticker watches it), reset by either side, or an error:
// the stream is reset and the upstream connection closed.
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gatehouse/http/fields.hpp"
#include "http/session_host.hpp"
#include "http1/tunnel.hpp"
#include "http2/connection.hpp"
#include "http2/stream.hpp"
#include "upstream/call.hpp"
#include "upstream/pool.hpp"
#include "util/base64.hpp"

namespace gatehouse::http2 {

namespace asio = boost::asio;

namespace {

// RFC 6455 §4.2.2: the accept value a server derives from the key.
std::string websocket_accept(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string in(key);
    in += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
    return util::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

bool is_websocket(std::string_view protocol) { return http::iequals(protocol, "websocket"); }

}  // namespace

// The route lets this protocol through (`websocket: true`, `upgrade: [...]`).
bool stream::allows_tunnel(const router::compiled_route& r) const {
    for (auto& allowed : r.config.upgrades)
        if (http::iequals(allowed, protocol_)) return true;
    return false;
}

// What makes the request an HTTP/1.1 Upgrade for the exchange (it forwards Upgrade only on a
// route that allows the protocol). Views into members that live as long as the stream.
void stream::add_upgrade_fields() {
    fields_.push_back({"connection", "upgrade"});
    fields_.push_back({"upgrade", protocol_});
    if (!is_websocket(protocol_)) return;
    unsigned char nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    ws_key_ = util::base64_encode(std::string_view(reinterpret_cast<const char*>(nonce), sizeof nonce));
    fields_.push_back({"sec-websocket-key", ws_key_});
}

asio::awaitable<void> stream::tunnel() {
    auto& call = ex_.upstream_call();
    auto& uc = call.conn();
    const http1::tunnel_count counted;
    const auto& h = call.head();
    if (is_websocket(protocol_)) {
        std::string_view accept;
        for (auto& f : h.fields)
            if (http::iequals(f.name, "sec-websocket-accept")) accept = f.value;
        if (accept != websocket_accept(ws_key_)) {  // not a WebSocket server's answer to this request
            call.drop_connection();
            ex_.status = 502;
            ex_.error_source = "upstream_failure";
            reset();
            co_return;
        }
    }
    tunnelling_ = true;
    tunnel_idle_ = ex_.route->config.tunnel_idle_timeout;
    uc.buf.consume(call.head_len());  // what stays: the upstream's first bytes behind its 101
    uc.timer.disarm();                // the connection's ticker keeps the tunnel's idle time
    ex_.status = 200;
    const bool sent = co_await send_head(ex_.relayed_interim(200, "OK", h.fields), std::string_view(), false);
    if (sent) {
        using namespace asio::experimental::awaitable_operators;
        co_await (pump_to_client(uc) || pump_to_upstream(uc));
    }
    call.drop_connection();  // a tunnelled connection is never pooled
    if (!tunnel_ended_) reset();
}

// The upstream's bytes as DATA, as fast as the client's window lets them out; its close is the
// stream's END_STREAM.
asio::awaitable<void> stream::pump_to_client(upstream::upstream_connection& uc) {
    for (;;) {
        if (!uc.buf.empty()) {
            const bool ok = co_await send_data(uc.buf.data(), false);
            uc.buf.consume(uc.buf.size());
            if (!ok) co_return;
        }
        auto [ptr, room] = uc.buf.prepare(16384);
        auto [ec, n] = co_await uc.io.read_some(ptr, room);
        if (ec == asio::error::eof || (!ec && n == 0)) {
            tunnel_ended_ = co_await send_data(std::string_view(), true);
            co_return;
        }
        if (ec) co_return;
        uc.buf.commit(n);
        last_activity_ = net::clock::now();
    }
}

// The client's DATA to the upstream, its window credited once written; its END_STREAM
// half-closes the upstream connection, which may still answer.
asio::awaitable<void> stream::pump_to_upstream(upstream::upstream_connection& uc) {
    bool half_closed = false;
    for (;;) {
        if (!body_.empty()) {
            auto [ec, n] = co_await uc.io.write(body_, {});
            if (ec) co_return;
            consume_body(body_.size());
        }
        if (closed_) co_return;
        if (request_ended_ && body_.empty() && !half_closed) {
            half_closed = true;
            boost::system::error_code ignored;
            // TLS: close_notify, which ends only our direction (the upstream's reads see the
            // end, its answer still comes); the TCP connection stays open for it and for TLS's
            // own records.
            if (uc.io.secure()) uc.io.close_notify();
            else uc.socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        }
        co_await wait();
    }
}

}  // namespace gatehouse::http2
