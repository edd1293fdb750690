// The client side of a connection: read a head, validate it, route it, answer or proxy it,
// repeat while keep-alive holds (RFC 9112 §9).
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "http1/error_reply.hpp"
#include "gatehouse/router/path.hpp"
#include "http1/client_connection.hpp"
#include "http1/session.hpp"
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
    resp_.fields.reserve(24);
    out_.reserve(512);
    up_head_.reserve(1024);
}

void connection_ended(session_host& w, net::listener_state& l) {
    l.release();
    if (l.stats) l.stats->at(w.id()).open.sub();
    w.session_ended();
}

client_connection::~client_connection() {
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
    co_return true;
}

asio::awaitable<void> client_connection::serve(std::unique_ptr<client_connection> self) {
    try {
        bool secured = true;
        if (self->tls_ctx_ && !self->io_.secure()) secured = co_await self->handshake();  // not when resumed
        if (secured) {
            co_await self->loop();
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
    for (auto* s : {&out_, &up_head_, &body_out_, &plain_, &path_, &host_buf_}) std::string().swap(*s);
    decltype(req_.fields)().swap(req_.fields);
    decltype(resp_.fields)().swap(resp_.fields);
    io_.release_idle_memory();
}

asio::awaitable<bool> client_connection::write_client(std::string_view a, std::string_view b) {
    dl_.arm(snap_ ? snap_->config.limits.idle_timeout : std::chrono::seconds(60));
    auto [ec, n] = co_await io_.write(a, b);
    bytes_out_ += n;
    // The client left mid-response (a reset, a closed socket); a write cut by our own deadline
    // (a client that stopped reading) is gatehouse's decision, not counted here.
    if (ec && !dl_.fired() && status_ != 0 && listener_->stats) listener_->stats->at(w_.id()).aborts_response.add();
    co_return !ec;
}

asio::awaitable<bool> client_connection::send_error(int status, std::string_view message, bool close, header_list extra) {
    out_.clear();
    bool head_only = head_request_;
    status_ = status;
    append_error_response(out_, status, message, request_id_, persistence_for(close, req_.version), head_only, extra);
    bool ok = co_await write_client(out_);
    linger_ = ok && close;
    co_return ok && !close;
}

void client_connection::begin_request() {
    req_start_ = net::clock::now();
    status_ = 0;
    bytes_in_ = bytes_out_ = 0;
    route_ = nullptr;
    method_slot_ = observability::k_methods.size() - 1;
    log_this_ = false;
    upstream_name_ = {};
    upstream_addr_.clear();
    upstream_ms_ = -1;
    upstream_status_ = 0;
    error_source_ = {};
    upstream_attempts_ = 0;
    has_trace_ = new_trace_ = false;
    req_.method = {};
    head_request_ = false;
    request_id_ = {};
    listener_chain_ = route_chain_ = nullptr;
    mctx_.reset();
    medit_.add.clear();
    medit_.remove.clear();
    medit_.fields = {};
    medit_.body = nullptr;
    medit_.tap = nullptr;
    medit_.replace.reset();
    mreply_.full.reset();
}

// The client's address for policy (rate-limit keys, access lists): the peer, or, when the peer is
// a trusted proxy, the rightmost X-Forwarded-For entry that is not itself a trusted proxy (the
// entries to its left are whatever the client chose to send).
std::string_view client_connection::real_client() const {
    if (!trusted_peer_) return peer_text_;
    std::string_view found = peer_text_;
    for (auto& f : req_.fields) {  // the last X-Forwarded-For field holds the rightmost entries
        if (f.name.size() != 15 || !iequals(f.name, "x-forwarded-for")) continue;
        std::string_view v = f.value;
        while (!v.empty()) {
            auto comma = v.rfind(',');
            auto entry = v.substr(comma == std::string_view::npos ? 0 : comma + 1);
            v = v.substr(0, comma == std::string_view::npos ? 0 : comma);
            entry = util::trim(entry);
            auto a = util::ip_address::parse(entry);
            if (!a) break;  // not an address: trust nothing further left
            found = entry;
            bool trusted = false;
            for (auto& c : listener_->cfg.trusted_proxies) trusted = trusted || c.contains(*a);
            if (!trusted) break;
        }
    }
    return found;
}

asio::awaitable<bool> client_connection::run_chain(const router::compiled_route& r, bool close, bool& keep) {
    route_chain_ = r.index < snap_->route_chains.size() ? &snap_->route_chains[r.index] : nullptr;
    if (!r.config.middleware_replace && !snap_->listener_chains.empty()) {
        auto it = snap_->listener_chains.find(listener_->cfg.name);
        if (it != snap_->listener_chains.end()) listener_chain_ = &it->second;
    }
    if ((!route_chain_ || route_chain_->empty()) && !listener_chain_) co_return true;
    mctx_.method = req_.method;
    mctx_.host = req_.host;
    mctx_.path = path_;
    mctx_.query = req_.query;
    mctx_.client_address = real_client();
    mctx_.secure = io_.secure();
    mctx_.has_body = req_.framing != body_framing::none;
    mctx_.fields = req_.fields;
    mctx_.worker = w_.id();
    mctx_.ioc = &w_.ioc();
    mctx_.now = std::chrono::system_clock::now();
    mctx_.mono = std::chrono::steady_clock::now();
    mctx_.route = r.config.name;
    mctx_.request_id = request_id_;
    mctx_.deadline = mctx_.mono + r.config.timeout.value_or(snap_->config.limits.request_timeout);
    std::size_t index = 0;
    for (const auto* chain : {listener_chain_, route_chain_}) {
        if (!chain) continue;
        for (auto& m : *chain) {
            mctx_.select(index++);
            auto v = m->on_request(mctx_, mreply_);
            if (v == middleware::verdict::suspend) v = co_await m->on_request_async(mctx_, mreply_);
            if (v == middleware::verdict::reply) {
                // Response headers from middleware (e.g. WWW-Authenticate) ride on the reply.
                run_response_chain(mreply_.status);
                bool ok = false;
                if (mreply_.full) {
                    ok = co_await send_full(*mreply_.full, close, head_request_);
                } else {
                    std::erase_if(mreply_.headers, [this](const auto& h) { return medit_.removes(h.first); });
                    for (auto& h : medit_.add) mreply_.headers.emplace_back(std::string(h.first), h.second);
                    std::erase_if(mreply_.headers, [](const auto& h) { return !middleware::valid_header_value(h.second); });
                    out_.clear();
                    status_ = mreply_.status;
                    append_error_response(out_, mreply_.status, mreply_.message, request_id_, persistence_for(close, req_.version),
                                          head_request_, mreply_.headers);
                    ok = co_await write_client(out_);
                }
                if (mctx_.wants_background() && !mctx_.has_body) start_background(r);
                keep = ok && !close;
                co_return false;
            }
        }
    }
    co_return true;
}

// A middleware's whole response (middleware::full_response): its fields, what the response
// chain added or removed, Content-Length for statuses that have a body.
asio::awaitable<bool> client_connection::send_full(const middleware::full_response& r, bool close, bool head_only) {
    status_ = r.status;
    out_.clear();
    append_status_line(out_, r.status);
    out_ += "\r\n";
    for (auto& [n, v] : r.fields) {
        if (!medit_.remove.empty() && medit_.removes(n)) continue;
        out_ += n;
        out_ += ": ";
        out_ += v;
        out_ += "\r\n";
    }
    for (auto& [k, v] : medit_.add) {
        if (!middleware::valid_header_value(v)) continue;
        out_ += k;
        out_ += ": ";
        out_ += v;
        out_ += "\r\n";
    }
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (!bodiless) {
        out_ += "Content-Length: ";
        out_ += std::to_string(r.body.size());
        out_ += "\r\n";
    }
    if (close) out_ += "Connection: close\r\n";
    else if (req_.version == 10) out_ += "Connection: keep-alive\r\n";
    out_ += "\r\n";
    bool ok = co_await write_client(out_, head_only || bodiless ? std::string_view{} : r.body);
    co_return ok && !close;
}

// The chain in reverse order, each middleware selected: the route's from its end, then the
// listener's (indices as in run_chain).
template <class F>
void client_connection::each_in_reverse(F&& f) {
    const std::size_t first_route = listener_chain_ ? listener_chain_->size() : 0;
    if (route_chain_)
        for (std::size_t i = route_chain_->size(); i-- > 0;) {
            mctx_.select(first_route + i);
            f(*(*route_chain_)[i]);
        }
    if (listener_chain_)
        for (std::size_t i = listener_chain_->size(); i-- > 0;) {
            mctx_.select(i);
            f(*(*listener_chain_)[i]);
        }
}

void client_connection::run_response_chain(int status) {
    medit_.status = status;
    each_in_reverse([this](const middleware::middleware& m) { m.on_response_headers(mctx_, medit_); });
}

void client_connection::run_trailer_chain(middleware::trailer_edit& edit) {
    each_in_reverse([this, &edit](const middleware::middleware& m) { m.on_response_trailers(mctx_, edit); });
}

asio::awaitable<void> client_connection::fail_head(int status, std::string_view message) {
    snap_ = w_.current();
    bytes_in_ = buf_.size();
    co_await send_error(status, message, true);
    complete_request();
}

void client_connection::complete_request() {
    if (!snap_) return;
    // The request's views point into buffers that have moved on: on_complete gets what it owns
    // (its per-request state, route and request_id), never a dangling view.
    mctx_.method = mctx_.host = mctx_.path = mctx_.query = mctx_.client_address = {};
    mctx_.fields = {};
    std::size_t index = 0;
    for (const auto* chain : {listener_chain_, route_chain_}) {
        if (!chain) continue;
        for (auto& m : *chain) {
            mctx_.select(index++);
            m->on_complete(mctx_, status_);
        }
    }
    mctx_.end_states();
    listener_chain_ = route_chain_ = nullptr;
    if (status_ == 0) return;
    auto now = net::clock::now();
    auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - req_start_).count());
    observability::route_stats* stats = nullptr;
    if (route_ && route_->index < snap_->route_stats.size()) stats = snap_->route_stats[route_->index].get();
    else if (!route_) stats = snap_->unmatched_stats.get();
    if (stats) {
        auto& sh = stats->at(w_.id());
        sh.requests[method_slot_][observability::code_slot(status_)].add();
        sh.duration.observe(ns);
        sh.request_bytes.add(bytes_in_);
        sh.response_bytes.add(bytes_out_);
    }
    if (log_this_ && snap_->access_log) {
        observability::request_log_entry e;
        e.time = std::chrono::system_clock::now();
        e.request_id = request_id_;
        if (has_trace_) e.trace_id = std::string_view(trace_id_, 32);
        e.client = peer_text_;
        e.method = log_method_;
        e.host = log_host_;
        e.path = log_path_;
        e.query = log_query_;
        e.status = status_;
        e.request_bytes = bytes_in_;
        e.response_bytes = bytes_out_;
        e.duration_ms = static_cast<double>(ns) / 1e6;
        e.route = route_ ? std::string_view(route_->config.name) : std::string_view{};
        e.upstream = upstream_name_;
        e.upstream_address = upstream_addr_;
        e.upstream_duration_ms = upstream_ms_;
        e.upstream_status = upstream_status_;
        e.error_source = error_source_;
        e.upstream_attempts = upstream_attempts_;
        e.user_agent = log_agent_;
        e.jwt_subject = mctx_.subject;
        e.tls_version = tls_version_;
        snap_->access_log->write(w_.id(), e);
    }
    status_ = 0;
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
        begin_request();
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
        if (head_end - std::min(head_end, buf_.data().find('\n')) > limits.max_header_bytes) {
            co_await fail_head(431, "request header fields too large");
            co_return;
        }
        bool keep = co_await handle_request(head_end);
        complete_request();
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

// One request, its head complete in buf_: checked (check_request), routed, then answered
// locally or proxied.
asio::awaitable<bool> client_connection::handle_request(std::size_t head_len) {
    bool close = false;
    switch (check_request(head_len, close)) {
        case request_check::route: break;
        case request_check::refused: co_return co_await send_error(refusal_.status, refusal_.reason, true, refusal_.extra);
        case request_check::asterisk: buf_.consume(head_len); co_return co_await answer_options_asterisk(close);
        case request_check::to_https: {
            bool r = co_await redirect_to_https(close);
            buf_.consume(head_len);  // after: the redirect reads the Host view
            co_return r;
        }
    }
    router::request_view view{req_.method, router::normalize_host(req_.host, host_buf_), path_, req_.query, req_.fields};
    const auto* route = snap_->routes->match(view);
    route_ = route;
    if (log_this_) {
        log_path_ = path_;  // the normalised path, before any rewrite
        if (route && !route->config.access_log) log_this_ = false;
    }
    if (!route) {
        buf_.consume(head_len);
        co_return co_await send_error(404, "no route matches the request", close);
    }
    if (req_.framing == body_framing::content_length &&
        req_.content_length > route->config.max_body_bytes.value_or(snap_->config.limits.max_body_bytes))
        co_return co_await send_error(413, "request body too large", true);
    {
        bool keep = false;
        if (!co_await run_chain(*route, close, keep)) {
            buf_.consume(head_len);
            co_return keep;
        }
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

// Everything before routing that needs no I/O: the scan, what the log and trace note, the memory
// limit, whether the connection closes after this request (`close`), the path's normalisation.
// refused: refusal_ holds the answer (the connection closes after it).
client_connection::request_check client_connection::check_request(std::size_t head_len, bool& close) {
    snap_ = w_.current();
    auto head = buf_.data().substr(0, head_len);
    bytes_in_ = head_len;
    auto err = scan_request(head, snap_->scan_limits, req_);
    head_request_ = req_.method == "HEAD";
    note_request(err);
    refusal_.extra = {};
    if (err) {
        refusal_.status = err.status;
        refusal_.reason = err.reason;
        return request_check::refused;
    }
    if (w_.shed_for_memory()) [[unlikely]] {  // limits.max_memory: before the OOM killer takes everything
        static const std::pair<std::string, std::string> retry_after{"Retry-After", "1"};
        refusal_ = {503, "server over its memory limit", header_list(&retry_after, 1)};
        return request_check::refused;
    }
    // A body we do not forward must still be consumed to keep the connection in sync; we close
    // instead, which is bounded and cannot desynchronise.
    close = !req_.keep_alive || w_.draining() || req_.framing != body_framing::none;
    if (req_.asterisk) return request_check::asterisk;
    if (auto why = router::normalize_path(req_.path, path_)) {
        refusal_.status = 400;
        refusal_.reason = why;
        return request_check::refused;
    }
    return listener_->cfg.https_redirect_port ? request_check::to_https : request_check::route;
}

// What the log, the trace and the upstream head need from the scanned head: the request id
// (the client's when sane, else a new one), the trace (continued or started), the method's
// metric slot, and the access log's copies (the head's bytes may move once the body is read).
void client_connection::note_request(const scan_error& err) {
    std::string_view user_agent;
    for (auto& f : req_.fields) {
        if (f.name.size() == 12 && iequals(f.name, "x-request-id") && sane_request_id(f.value)) {
            rid_store_.assign(f.value);
            request_id_ = rid_store_;
        } else if (f.name.size() == 11 && iequals(f.name, "traceparent") && !has_trace_) {
            observability::trace_context tc;
            if (observability::parse_traceparent(f.value, tc)) {
                std::memcpy(trace_id_, tc.trace_id, 32);
                trace_flags_ = tc.flags;
                has_trace_ = true;
            }
        } else if (f.name.size() == 10 && iequals(f.name, "user-agent")) {
            user_agent = f.value;
        }
    }
    if (request_id_.empty()) request_id_ = w_.new_request_id(rid_buf_);
    if (!has_trace_ && snap_->config.tracing.generate) {
        observability::random_hex(
            trace_id_, 32, [](void* w) { return static_cast<session_host*>(w)->random(); }, &w_);
        trace_flags_ = 0;
        has_trace_ = new_trace_ = true;
    }
    method_slot_ = observability::method_slot(req_.method);
    if (snap_->access_log && snap_->access_log->sampled(w_.random())) {
        log_this_ = true;
        log_method_.assign(req_.method);
        log_host_.assign(req_.host);
        log_path_.assign(err ? req_.target : req_.path);
        log_query_.assign(snap_->config.access_log.include_query ? req_.query : std::string_view{});
        log_agent_.assign(user_agent);
    }
}

asio::awaitable<bool> client_connection::answer_options_asterisk(bool close) {
    status_ = 200;
    out_.assign("HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\nContent-Length: 0\r\n");
    out_ += close ? "Connection: close\r\n\r\n" : "\r\n";
    bool ok = co_await write_client(out_);
    co_return ok && !close;
}

// An HTTP listener whose only job is sending clients to HTTPS (the host comes from the
// validated Host header, without its port).
asio::awaitable<bool> client_connection::redirect_to_https(bool close) {
    auto host = util::host_without_port(req_.host);
    if (host.empty()) co_return co_await send_error(400, "missing Host header", true);
    status_ = listener_->cfg.https_redirect_status;
    out_.clear();
    append_status_line(out_, status_);
    out_ += "\r\nLocation: https://";
    out_ += host;
    if (*listener_->cfg.https_redirect_port != 443) out_ += ":" + std::to_string(*listener_->cfg.https_redirect_port);
    out_ += path_;
    if (req_.has_query) {
        out_ += '?';
        out_ += req_.query;
    }
    out_ += "\r\nContent-Length: 0\r\nX-Request-Id: ";
    out_ += request_id_;
    out_ += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
    bool ok = co_await write_client(out_);
    co_return ok && !close;
}

asio::awaitable<bool> client_connection::respond_direct(const router::compiled_route& r, bool close) {
    co_return co_await respond_with(*r.config.respond, close);
}

// A response the config spells out: routes[].respond, and routes[].fallback.respond.
asio::awaitable<bool> client_connection::respond_with(const config::respond_config& rc, bool close) {
    status_ = rc.status;
    out_.clear();
    append_status_line(out_, rc.status);
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
    if (route_chain_ || listener_chain_) {
        run_response_chain(rc.status);
        for (auto& [k, v] : medit_.add) {
            if (!middleware::valid_header_value(v)) continue;
            out_ += "\r\n";
            out_ += k;
            out_ += ": ";
            out_ += v;
        }
    }
    out_ += head_end(persistence_for(close, req_.version));
    bool head_only = head_request_;
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
        location += rc.scheme || rc.port ? util::host_without_port(req_.host) : req_.host;
    }
    if (rc.port) location += ":" + std::to_string(*rc.port);
    location += rc.path ? *rc.path : path_;
    if (!rc.strip_query && req_.has_query) {
        location += '?';
        location += req_.query;
    }
    status_ = rc.status;
    out_.clear();
    append_status_line(out_, rc.status);
    out_ += "\r\nLocation: ";
    out_ += location;
    out_ += "\r\nContent-Length: 0\r\nX-Request-Id: ";
    out_ += request_id_;
    out_ += head_end(persistence_for(close, req_.version));
    bool ok = co_await write_client(out_);
    co_return ok && !close;
}

}  // namespace gatehouse::http1
