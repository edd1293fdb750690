// The client side of a connection: read a head, validate it, route it, answer or proxy it,
// repeat while keep-alive holds (RFC 9112 §9).
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "gatehouse/http/error_reply.hpp"
#include "gatehouse/router/path.hpp"
#include "http/connection.hpp"
#include "http/session.hpp"

namespace gatehouse::http {

void start_session(server::worker& w, std::shared_ptr<server::listener_state> l, tcp::socket sock) {
    auto conn = std::make_unique<client_connection>(w, std::move(l), std::move(sock));
    asio::co_spawn(w.ioc(), client_connection::serve(std::move(conn)), asio::detached);
}

client_connection::client_connection(server::worker& w, std::shared_ptr<server::listener_state> l, tcp::socket s)
    : w_(w), listener_(std::move(l)), sock_(std::move(s)), dl_(w.deadlines(), sock_), buf_(8192, 65536) {
    w_.session_started();
    boost::system::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    if (!ec) {
        peer_text_ = ep.address().to_string();
        if (auto a = util::ip_address::parse(peer_text_)) peer_ = *a;
        for (auto& c : listener_->cfg.trusted_proxies)
            if (c.contains(peer_)) trusted_peer_ = true;
    }
    sock_.set_option(tcp::no_delay(true), ec);
}

client_connection::~client_connection() { w_.session_ended(); }

asio::awaitable<void> client_connection::serve(std::unique_ptr<client_connection> self) {
    try {
        co_await self->loop();
    } catch (const std::exception& e) {
        spdlog::error("connection from {} ended by an internal error: {}", self->peer_text_, e.what());
    }
    boost::system::error_code ec;
    self->sock_.shutdown(tcp::socket::shutdown_send, ec);
    self->sock_.close(ec);
}

asio::awaitable<io_status> client_connection::read_more(std::optional<server::clock::duration> timeout) {
    auto [ptr, room] = buf_.prepare(16384);
    if (room == 0) co_return io_status::full;
    if (timeout) dl_.arm(*timeout);
    auto [ec, n] = co_await sock_.async_read_some(asio::buffer(ptr, room), nothrow_awaitable);
    if (ec) {
        if (ec == asio::error::operation_aborted && dl_.fired()) co_return io_status::timeout;
        co_return ec == asio::error::eof ? io_status::eof : io_status::error;
    }
    buf_.commit(n);
    co_return io_status::ok;
}

asio::awaitable<bool> client_connection::write_client(std::string_view a, std::string_view b) {
    std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()), asio::buffer(b.data(), b.size())};
    dl_.arm(snap_ ? snap_->config.limits.idle_timeout : std::chrono::seconds(60));
    auto [ec, n] = co_await asio::async_write(sock_, bufs, nothrow_awaitable);
    co_return !ec;
}

asio::awaitable<bool> client_connection::send_error(int status, std::string_view message, bool close) {
    out_.clear();
    bool head_only = req_.method == "HEAD";
    append_error_response(out_, status, message, request_id_, close, head_only);
    bool ok = co_await write_client(out_);
    co_return ok && !close;
}

asio::awaitable<void> client_connection::loop() {
    // Draining never closes a connection between requests here: every response says
    // Connection: close instead, and connections that stay idle are closed by the worker's tick
    // after a grace period. Closing right after a response would race the client's next request.
    for (;;) {
        auto current = w_.current();  // held: a reload during the awaits below must not free it
        const auto& limits = current->config.limits;
        if (buf_.empty()) {
            dl_.set_idle(true);
            auto st = co_await read_more(limits.idle_timeout);
            dl_.set_idle(false);
            if (st != io_status::ok) co_return;  // idle timeout, drain or client gone: close quietly
        }
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line.
        for (int i = 0; i < 2 && buf_.data().starts_with("\r\n"); ++i) buf_.consume(2);

        std::size_t head_end = std::string_view::npos, scanned = 0;
        const std::size_t head_cap = limits.max_header_bytes + limits.max_request_line;
        buf_.set_cap(std::max<std::size_t>(65536, head_cap + 4096));
        request_id_ = {};
        // The whole head must arrive within header_timeout, however slowly it trickles in
        // (slowloris): armed once here, not per read.
        dl_.arm(limits.header_timeout);
        for (;;) {
            auto data = buf_.data();
            head_end = find_head_end(data, scanned);
            if (head_end != std::string_view::npos) break;
            scanned = data.size();
            auto first_lf = data.find('\n');
            if (first_lf == std::string_view::npos ? data.size() > limits.max_request_line : first_lf > limits.max_request_line) {
                snap_ = w_.current();
                co_await send_error(414, "request line too long", true);
                co_return;
            }
            if (data.size() > head_cap || (first_lf != std::string_view::npos && data.size() - first_lf > limits.max_header_bytes)) {
                snap_ = w_.current();
                co_await send_error(431, "request header fields too large", true);
                co_return;
            }
            if (buf_.empty()) dl_.set_idle(false);
            auto st = co_await read_more(std::nullopt);
            if (st == io_status::timeout) {
                snap_ = w_.current();
                co_await send_error(408, "request header timeout", true);
                co_return;
            }
            if (st == io_status::full) {
                snap_ = w_.current();
                co_await send_error(431, "request header fields too large", true);
                co_return;
            }
            if (st != io_status::ok) co_return;
        }
        if (head_end - std::min(head_end, buf_.data().find('\n')) > limits.max_header_bytes) {
            snap_ = w_.current();
            co_await send_error(431, "request header fields too large", true);
            co_return;
        }
        bool keep = co_await handle_request(head_end);
        snap_.reset();
        if (!keep) co_return;
    }
}

namespace {
bool sane_request_id(std::string_view v) {
    if (v.empty() || v.size() > 128) return false;
    for (unsigned char c : v)
        if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=')) return false;
    return true;
}
}  // namespace

asio::awaitable<bool> client_connection::handle_request(std::size_t head_len) {
    snap_ = w_.current();
    const auto& limits = snap_->config.limits;
    auto head = buf_.data().substr(0, head_len);
    auto err = scan_request(head, snap_->scan_limits, req_);
    for (auto& f : req_.fields) {
        if (f.name.size() == 12 && iequals(f.name, "x-request-id") && sane_request_id(f.value)) {
            rid_store_.assign(f.value);
            request_id_ = rid_store_;
        }
    }
    if (request_id_.empty()) request_id_ = w_.new_request_id(rid_buf_);
    if (err) co_return co_await send_error(err.status, err.reason, true);

    // A body we do not forward must still be consumed to keep the connection in sync; we close
    // instead, which is bounded and cannot desynchronise.
    bool has_body = req_.framing != body_framing::none;
    bool close = !req_.keep_alive || w_.draining() || has_body;
    if (req_.framing == body_framing::content_length && req_.content_length > limits.max_body_bytes)
        co_return co_await send_error(413, "request body too large", true);

    if (req_.asterisk) {
        out_.assign("HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\nContent-Length: 0\r\n");
        out_ += close ? "Connection: close\r\n\r\n" : "\r\n";
        buf_.consume(head_len);
        bool ok = co_await write_client(out_);
        co_return ok && !close;
    }
    if (auto why = router::normalize_path(req_.path, path_)) co_return co_await send_error(400, why, true);
    router::request_view view{req_.method, router::normalize_host(req_.host, host_buf_), path_, req_.query, req_.fields};
    const auto* route = snap_->routes->match(view);
    if (!route) {
        buf_.consume(head_len);
        co_return co_await send_error(404, "no route matches the request", close);
    }
    if (route->config.respond) {
        buf_.consume(head_len);
        co_return co_await respond_direct(*route, close);
    }
    if (route->config.redirect) {
        bool r = co_await redirect(*route, close);
        buf_.consume(head_len);  // after: the redirect reads the Host view
        co_return r;
    }
    co_return co_await proxy(*route, head_len);
}

asio::awaitable<bool> client_connection::respond_direct(const router::compiled_route& r, bool close) {
    const auto& rc = *r.config.respond;
    out_.clear();
    out_ += "HTTP/1.1 ";
    out_ += std::to_string(rc.status);
    out_ += ' ';
    out_ += reason_phrase(rc.status);
    out_ += "\r\nContent-Type: ";
    out_ += rc.content_type;
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(rc.body.size());
    out_ += "\r\nX-Request-Id: ";
    out_ += request_id_;
    for (auto& [k, v] : rc.headers) {
        out_ += "\r\n";
        out_ += k;
        out_ += ": ";
        out_ += v;
    }
    out_ += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
    bool head_only = req_.method == "HEAD";
    bool ok = co_await write_client(out_, head_only ? std::string_view{} : std::string_view(rc.body));
    co_return ok && !close;
}

asio::awaitable<bool> client_connection::redirect(const router::compiled_route& r, bool close) {
    const auto& rc = *r.config.redirect;
    std::string location = rc.scheme.value_or("http");
    location += "://";
    if (rc.host) {
        location += *rc.host;
    } else {
        // The Host value was validated by the scanner: no CR, LF, '/', '@' or spaces. Its port is
        // kept only when neither scheme nor port is being changed.
        auto h = req_.host;
        auto bracket = h.find(']');
        auto colon = h.rfind(':');
        bool has_port = colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
        if (has_port && (rc.scheme || rc.port)) h = h.substr(0, colon);
        location += h;
    }
    if (rc.port) location += ":" + std::to_string(*rc.port);
    location += rc.path ? *rc.path : path_;
    if (!rc.strip_query && req_.has_query) {
        location += '?';
        location += req_.query;
    }
    out_.clear();
    out_ += "HTTP/1.1 ";
    out_ += std::to_string(rc.status);
    out_ += ' ';
    out_ += reason_phrase(rc.status);
    out_ += "\r\nLocation: ";
    out_ += location;
    out_ += "\r\nContent-Length: 0\r\nX-Request-Id: ";
    out_ += request_id_;
    out_ += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
    bool ok = co_await write_client(out_);
    co_return ok && !close;
}

}  // namespace gatehouse::http
