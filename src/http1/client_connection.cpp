// The client side of a connection: read a head, validate it, route it, answer or proxy it,
// repeat while keep-alive holds (RFC 9112 §9).
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "http1/status_line.hpp"
#include "gatehouse/router/path.hpp"
#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"
#include "http1/session.hpp"
#include "http2/connection.hpp"
#include "observability/access_log.hpp"
#include "observability/trace_context.hpp"
#include "util/text.hpp"

namespace gatehouse::http1 {

void start_session(session_host& w, std::shared_ptr<net::listener_state> l, tcp::socket sock, const tcp::endpoint& peer) {
    auto conn = std::make_unique<client_connection>(w, std::move(l), std::move(sock), peer);
    asio::co_spawn(w.ioc(), client_connection::serve(std::move(conn)), asio::detached);
}

client_connection::client_connection(session_host& w, std::shared_ptr<net::listener_state> l, tcp::socket s, const tcp::endpoint& ep)
    : w_(w), listener_(std::move(l)), sock_(std::move(s)), dl_(w.deadlines(), sock_), buf_(16384, 65536) {
    w_.session_started();
    if (listener_->stats) {
        auto& sh = listener_->stats->at(w_.id());
        sh.open.add();
        sh.total.add();
    }
    peer_text_ = ep.address().to_string();
    if (auto a = util::ip_address::parse(peer_text_)) peer_ = *a;
    for (auto& c : listener_->cfg.trusted_proxies)
        if (c.contains(peer_)) trusted_peer_ = true;
    boost::system::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
    prepare();
    if (auto& snap = w_.current(); !snap->tls.empty()) {
        auto it = snap->tls.find(listener_->cfg.name);
        if (it != snap->tls.end()) tls_ctx_ = it->second;  // held: a reload must not free it mid-handshake
    }
}

void client_connection::prepare() {
    // Sizes a typical request reaches anyway: one allocation each now instead of a doubling
    // series during the first request (heaptrack: ~20 allocations per new connection before).
    req_.fields.reserve(24);
    out_.reserve(512);
    note_facts();
}

void connection_ended(session_host& w, net::listener_state& l) {
    l.release();
    if (l.stats) l.stats->at(w.id()).open.sub();
    w.session_ended();
}

client_connection::~client_connection() {
    unwatch_gone();
    if (listener_) connection_ended(w_, *listener_);  // else an idle_connection holds its counts
}

asio::awaitable<bool> client_connection::handshake() {
    // Client certificate problems, unknown SNI names and slow handshakes affect this connection
    // only: the handshake runs on its own coroutine with its own deadline.
    SSL* ssl = SSL_new(tls_ctx_->default_ctx());  // SNI may switch it to another certificate's context
    if (!ssl) co_return false;
    dl_.arm(tls_ctx_->config().handshake_timeout);
    auto ec = co_await io_.handshake(ssl, true);  // io_ owns ssl from here
    if (ec) {
        spdlog::debug("TLS handshake with {} failed: {}", peer_text_, dl_.fired() ? "timed out" : ec.message());
        if (listener_->stats) listener_->stats->at(w_.id()).tls_handshake_failures.add();
        // The alert is our answer: close in stages like after any error answer, so bytes the
        // client already sent do not turn the close into a reset that destroys the alert. A
        // client that stalled until the timeout gets no such grace.
        linger_ = !dl_.fired();
        co_return false;
    }
    tls_version_ = SSL_get_version(io_.ssl());
    client_id_ = tls::client_identity(io_.ssl());
    note_facts();
    co_return true;
}

asio::awaitable<void> client_connection::serve(std::unique_ptr<client_connection> self) {
    try {
        bool secured = true;
        if (self->tls_ctx_ && !self->io_.secure()) secured = co_await self->handshake();  // not when resumed
        if (secured && self->alpn_h2()) {
            co_await self->serve_h2();
        } else if (secured) {
            co_await self->loop();
            if (self->h2_) co_await self->serve_h2();  // h2c: the HTTP/2 preface came first
            if (self->park_) {
                park(std::move(self));
                co_return;
            }
            self->io_.close_notify();
        }
        if (self->linger_) co_await self->linger();
    } catch (const std::exception& e) {
        spdlog::error("connection from {} ended by an internal error: {}", self->peer_text_, e.what());
    }
    boost::system::error_code ec;
    self->sock_.close(ec);
}

// TLS: the handshake chose h2 (the listener offers it by ALPN).
bool client_connection::alpn_h2() const {
    if (!io_.secure()) return false;
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(io_.ssl(), &p, &n);
    return n == 2 && p[0] == 'h' && p[1] == '2';
}

// The connection speaks HTTP/2 from here on (src/http2/); it lends its socket, transport,
// deadline and what it read.
asio::awaitable<void> client_connection::serve_h2() {
    dl_.disarm();
    http2::connection_parts parts{w_, listener_, sock_, io_, dl_, buf_, facts_};
    co_await http2::serve(std::move(parts));
}

asio::awaitable<void> client_connection::linger() {
    // RFC 9112 §9.6: after an error answer (or a TLS alert) the client may still be sending (a body we refused, a
    // pipelined request). Closing with its bytes unread would send a reset, which can destroy our
    // answer before the client reads it. So: half-close, read and drop until the client closes,
    // nothing arrives for k_lingering_timeout, or k_lingering_time has passed (nginx's defaults);
    // a drain ends it sooner (it counts as idle).
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    dl_.set_idle(true);
    auto until = net::clock::now() + k_lingering_time;
    buf_.clear();
    auto [ptr, room] = buf_.prepare(4096);
    for (auto now = net::clock::now(); now < until; now = net::clock::now()) {
        dl_.arm(std::min<net::clock::duration>(k_lingering_timeout, until - now));
        auto [e, n] = co_await sock_.async_read_some(asio::buffer(ptr, room), nothrow_awaitable);
        if (e) break;
    }
}

asio::awaitable<io_status> client_connection::read_more(std::optional<net::clock::duration> timeout) {
    auto [ptr, room] = buf_.prepare(16384);
    if (room == 0) co_return io_status::full;
    if (timeout) dl_.arm(*timeout);
    auto [ec, n] = co_await io_.read_some(ptr, room);
    if (ec) {
        if (ec == asio::error::operation_aborted && dl_.fired()) co_return io_status::timeout;
        co_return ec == asio::error::eof ? io_status::eof : io_status::error;
    }
    buf_.commit(n);
    co_return io_status::ok;
}

// Between two requests. A client that sends its next request soon finds everything as it was;
// one that stays idle for k_idle_release gives back what a request needs (the read buffer, the
// head and body strings: ~17 KiB) and waits for readability holding none of it, so thousands of
// idle keep-alive connections cost little memory (issue #14 §3, bench/idle_connections.sh). The
// delay keeps the allocation off the hot path of a few busy connections; a worker holding many
// connections looks once (a read that never waits) and lets go at once, so a burst of new
// connections reuses one buffer instead of holding one each for the delay.
asio::awaitable<io_status> client_connection::wait_for_request(net::clock::duration idle_timeout) {
    constexpr auto k_idle_release = std::chrono::seconds(1);
    constexpr std::size_t k_many_connections = 256;
    if (w_.sessions() > k_many_connections) {
        auto [ptr, room] = buf_.prepare(16384);
        auto r = io_.try_read(ptr, room);
        switch (r.kind) {
            case net::transport::try_result::data: buf_.commit(r.n); co_return io_status::ok;
            case net::transport::try_result::eof: co_return io_status::eof;
            case net::transport::try_result::error: co_return io_status::error;
            case net::transport::try_result::would_block: co_return co_await wait_released(idle_timeout);
            case net::transport::try_result::busy: break;  // TLS wants to write first: the usual read
        }
    }
    const auto grace = std::min<net::clock::duration>(idle_timeout, k_idle_release);
    auto st = co_await read_more(grace);
    if (st != io_status::timeout || grace == idle_timeout) co_return st;
    co_return co_await wait_released(idle_timeout - grace);
}

asio::awaitable<io_status> client_connection::wait_released(net::clock::duration idle_timeout) {
    release_idle_memory();
    if (io_.quiet()) {
        // The whole session goes: serve() parks the connection (idle_connection.cpp).
        park_ = true;
        park_timeout_ = idle_timeout;
        co_return io_status::eof;
    }
    dl_.arm(idle_timeout);
    auto [ec] = co_await io_.wait_readable();
    if (ec) co_return (ec == asio::error::operation_aborted && dl_.fired()) ? io_status::timeout : io_status::error;
    co_return co_await read_more(std::nullopt);
}

void client_connection::release_idle_memory() {
    buf_.release();
    for (auto* s : {&out_, &body_out_}) std::string().swap(*s);
    ex_.release_memory();
    decltype(req_.fields)().swap(req_.fields);
    io_.release_idle_memory();
}

void client_connection::before_write() { dl_.arm(ex_.snap ? ex_.snap->config.limits.idle_timeout : std::chrono::seconds(60)); }

bool client_connection::after_write(boost::system::error_code ec, std::size_t n) {
    ex_.bytes_out += n;
    // The client left mid-response (a reset, a closed socket); a write cut by our own deadline
    // (a client that stopped reading) is gatehouse's decision, not counted here.
    if (ec && !dl_.fired() && ex_.status != 0 && listener_->stats) listener_->stats->at(w_.id()).aborts_response.add();
    return !ec;
}

asio::awaitable<bool> client_connection::write_client(std::string_view a, std::string_view b) {
    before_write();
    auto [ec, n] = co_await io_.write(a, b);
    co_return after_write(ec, n);
}

asio::awaitable<bool> client_connection::send_error(int status, std::string_view message, bool close, header_list extra) {
    must_close_ = close;
    bool ok = co_await ex_.send_error(status, message, extra);
    linger_ = ok && close;
    co_return ok && !close;
}

asio::awaitable<void> client_connection::fail_head(int status, std::string_view message) {
    ex_.snap = w_.current();  // not noted: no request id, no access log line for a head never read whole
    ex_.bytes_in = buf_.size();
    co_await send_error(status, message, true);
    ex_.complete();
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
            auto st = co_await wait_for_request(limits.idle_timeout);
            dl_.set_idle(false);
            if (st != io_status::ok) co_return;  // idle timeout, drain or client gone: close quietly
        }
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request-line.
        for (int i = 0; i < 2 && buf_.data().starts_with("\r\n"); ++i) buf_.consume(2);

        std::size_t head_end = std::string_view::npos, scanned = 0;
        const std::size_t head_cap = limits.max_header_bytes + limits.max_request_line;
        buf_.set_cap(std::max<std::size_t>(65536, head_cap + 4096));
        ex_.begin();
        head_request_ = false;
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
                co_await fail_head(414, "request line too long");
                co_return;
            }
            if (data.size() > head_cap || (first_lf != std::string_view::npos && data.size() - first_lf > limits.max_header_bytes)) {
                co_await fail_head(431, "request header fields too large");
                co_return;
            }
            if (buf_.empty()) dl_.set_idle(false);
            auto st = co_await read_more(std::nullopt);
            if (st == io_status::timeout) {
                co_await fail_head(408, "request header timeout");
                co_return;
            }
            if (st == io_status::full) {
                co_await fail_head(431, "request header fields too large");
                co_return;
            }
            if (st != io_status::ok) co_return;
        }
        if (buf_.data().starts_with(http2::k_preface.substr(0, 18))) {
            // h2c with prior knowledge (RFC 9113 §3.3): the client's preface, not a request.
            if (listener_->cfg.h2) {
                h2_ = true;
                co_return;
            }
            co_await fail_head(505, "HTTP/2 is not offered on this listener");
            co_return;
        }
        if (!listener_->cfg.http1) {
            co_await fail_head(505, "only HTTP/2 is served on this listener");
            co_return;
        }
        if (head_end - std::min(head_end, buf_.data().find('\n')) > limits.max_header_bytes) {
            co_await fail_head(431, "request header fields too large");
            co_return;
        }
        bool keep = co_await handle_request(head_end);
        ex_.complete();
        if (!keep) co_return;
    }
}

// One request, its head complete in buf_: checked (check_request), then served by the
// exchange: answered there, or proxied (its upstream phase, src/http/proxy.cpp). The head's
// views live until the exchange first reads the body, or until the answer is written (buf_
// keeps the head until then).
asio::awaitable<bool> client_connection::handle_request(std::size_t head_len) {
    proxied_ = false;
    if (!check_request(head_len)) co_return co_await send_error(refusal_.status, refusal_.reason, true, refusal_.extra);
    bool written = false;
    const auto answer = ex_.pass_chain(ex_.decide());
    bool upstream = answer == http::exchange::answer::upstream;
    bool body_started = false;
    if (!upstream) {
        // A composition may send the client's body (compose calls with `body: client`), a
        // translated gRPC call sends it as its message: it is read the way the upstream phase
        // reads it.
        body_started = ex_.reads_body_itself() && ex_.req.has_body;
        if (body_started && !start_body(head_len)) co_return co_await send_error(400, "malformed request head", true);
        const auto next = co_await ex_.serve(answer, written);
        upstream = next == http::exchange::next::upstream;
    }
    if (upstream) {  // the exchange's upstream phase, the body pulled from buf_ (request_body.cpp)
        if (!start_body(head_len)) co_return co_await send_error(400, "malformed request head", true);
        must_close_ = !req_.keep_alive || w_.draining();
        const bool complete = co_await ex_.proxy();
        drop_head();
        if (ex_.switched()) co_return co_await tunnel_upstream();
        // A body left unread: the connection closes in stages, so the answer is not lost to a reset.
        linger_ = complete && must_close_ && !body_consumed();
        co_return complete && !must_close_;
    }
    if (ex_.route && ex_.mctx.wants_background() && !ex_.req.has_body) ex_.start_background();
    if (body_started) drop_head();  // the body may have been read: the head is all that goes
    else buf_.consume(head_len);
    // A body left unread: the connection closes in stages, so the answer is not lost to a reset.
    linger_ = written && must_close_ && ex_.req.has_body;
    co_return written && !must_close_;
}

// After a 101: the tunnel, on the exchange's upstream call.
asio::awaitable<bool> client_connection::tunnel_upstream() {
    const bool keep = co_await tunnel(ex_.upstream_call(), *ex_.route);
    ex_.end_call();
    co_return keep;
}

// Everything before routing that needs no I/O: the scan, what the exchange notes of the head,
// the memory limit, whether the connection closes after this request (must_close_), the path's
// normalisation. false: refused, refusal_ holds the answer (the connection closes after it).
bool client_connection::check_request(std::size_t head_len) {
    auto head = buf_.data().substr(0, head_len);
    auto err = scan_request(head, w_.current()->scan_limits, req_);
    head_request_ = req_.method == "HEAD";
    facts_.protocol = req_.version == 10 ? "HTTP/1.0" : "HTTP/1.1";
    ex_.note_head(neutral_head(), !err, req_.target);
    ex_.bytes_in = head_len;
    refusal_.extra = {};
    if (err) {
        refusal_.status = err.status;
        refusal_.reason = err.reason;
        return false;
    }
    if (w_.shed_for_memory()) [[unlikely]] {  // limits.max_memory: before the OOM killer takes everything
        static const std::pair<std::string, std::string> retry_after{"Retry-After", "1"};
        refusal_ = {503, "server over its memory limit", header_list(&retry_after, 1)};
        return false;
    }
    // A body we do not forward must still be consumed to keep the connection in sync; we close
    // instead, which is bounded and cannot desynchronise.
    must_close_ = !req_.keep_alive || w_.draining() || req_.framing != body_framing::none;
    if (auto why = req_.asterisk ? nullptr : ex_.normalise_path()) {
        refusal_.status = 400;
        refusal_.reason = why;
        return false;
    }
    return true;
}

// The scanned head as the exchange sees it.
http::request_head client_connection::neutral_head() const {
    http::request_head h;
    h.method = req_.method;
    h.scheme = io_.secure() ? "https" : "http";
    h.authority = req_.host;
    h.path = req_.asterisk ? std::string_view("*") : req_.path;
    h.query = req_.query;
    h.has_query = req_.has_query;
    h.fields = req_.fields;
    h.has_body = req_.framing != body_framing::none;
    if (req_.framing == body_framing::content_length) h.content_length = req_.content_length;
    return h;
}

}  // namespace gatehouse::http1
