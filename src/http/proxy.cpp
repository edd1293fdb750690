// Proxying one request: pick an endpoint, lease a pooled connection, send the rewritten head and
// stream the body up, read and check the response head, stream the response down. Bodies move
// through the connection's fixed buffers, so memory stays flat whatever their size.
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <string_view>

#include "gatehouse/http/error_reply.hpp"
#include "gatehouse/upstream/load_balancer.hpp"
#include "http/body_decoder.hpp"
#include "http/connection.hpp"
#include "observability/trace_context.hpp"

namespace gatehouse::http {

using namespace std::string_view_literals;

namespace {

// Hop-by-hop fields (RFC 9110 §7.6.1) and the ones gatehouse sets itself.
bool is_hop_by_hop(std::string_view n) {
    switch (n.size()) {
        case 2: return iequals(n, "te");
        case 7: return iequals(n, "trailer") || iequals(n, "upgrade");
        case 10: return iequals(n, "connection") || iequals(n, "keep-alive");
        case 16: return iequals(n, "proxy-connection");
        case 17: return iequals(n, "transfer-encoding");
        default: return false;
    }
}

enum class forwarded_kind { none, xff, xfp, xfh, forwarded, real_ip };
forwarded_kind forwarded_header(std::string_view n) {
    if (n.size() == 9 && iequals(n, "forwarded")) return forwarded_kind::forwarded;
    if (n.size() == 9 && iequals(n, "x-real-ip")) return forwarded_kind::real_ip;
    if (n.size() == 15 && iequals(n, "x-forwarded-for")) return forwarded_kind::xff;
    if (n.size() == 17 && iequals(n, "x-forwarded-proto")) return forwarded_kind::xfp;
    if (n.size() == 16 && iequals(n, "x-forwarded-host")) return forwarded_kind::xfh;
    return forwarded_kind::none;
}

void append_hex(std::string& out, std::size_t n) {
    char buf[20];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
    out.append(buf, p);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
}

// What reading a response head from the upstream came to.
enum class head_result { ok, failed_before_response, timeout, invalid, closed_mid_head };

}  // namespace

void client_connection::build_upstream_head(const router::compiled_route& r) {
    const auto& rw = r.config.rewrite;
    // Path rewrite on the normalised path.
    if (rw && rw->strip_prefix && path_.starts_with(*rw->strip_prefix)) {
        path_.erase(0, rw->strip_prefix->size());
        if (path_.empty() || path_.front() != '/') path_.insert(path_.begin(), '/');
    } else if (rw && rw->replace_prefix && r.config.match.path_kind == config::path_match::prefix) {
        std::string rest = path_.substr(r.config.match.path.size());
        path_ = *rw->replace_prefix;
        if (!rest.empty() && rest.front() == '/' && !path_.empty() && path_.back() == '/') rest.erase(0, 1);
        path_ += rest;
        if (path_.empty()) path_ = "/";
    }
    up_head_.clear();
    up_head_ += req_.method;
    up_head_ += ' ';
    up_head_ += path_;
    if (req_.has_query) {
        if (mctx_.removed_query_params().empty()) {
            up_head_ += '?';
            up_head_ += req_.query;
        } else if (auto q = router::without_query_params(req_.query, mctx_.removed_query_params()); !q.empty()) {
            up_head_ += '?';  // a credential taken from the query stays here (api_key, jwt)
            up_head_ += q;
        }
    }
    up_head_ += " HTTP/1.1\r\nHost: "sv;
    std::string_view original_host = req_.host;
    if (rw && rw->host) up_head_ += *rw->host;
    else if (!original_host.empty()) up_head_ += original_host;
    else up_head_ += snap_->clusters[r.upstream_index]->name;  // an HTTP/1.0 client sent none
    up_head_ += "\r\n"sv;

    std::string_view xff, xfp, xfh;
    std::size_t xff_count = 0;
    for (auto& f : req_.fields) {
        auto n = f.name;
        if (is_hop_by_hop(n)) continue;
        switch (n.size()) {
            case 4: if (iequals(n, "host")) continue; break;
            case 6: if (iequals(n, "expect")) continue; break;
            case 10: if (new_trace_ && iequals(n, "tracestate")) continue; break;  // it belonged to no trace we continue
            case 11: if (iequals(n, "traceparent")) continue; break;                 // replaced below
            case 12: if (iequals(n, "x-request-id")) continue; break;
            case 14: if (iequals(n, "content-length")) continue; break;
            default: break;
        }
        auto fk = forwarded_header(n);
        if (fk != forwarded_kind::none) {
            if (!trusted_peer_) continue;  // never trust forwarding claims from arbitrary clients
            if (fk == forwarded_kind::xff) {
                if (xff_count++ == 0) xff = f.value;
                else {
                    // several XFF lines from a trusted proxy: forward them joined, in order
                    up_head_ += "X-Forwarded-For: "sv;
                    up_head_ += f.value;
                    up_head_ += "\r\n"sv;
                }
                continue;
            }
            if (fk == forwarded_kind::xfp) { xfp = f.value; continue; }
            if (fk == forwarded_kind::xfh) { xfh = f.value; continue; }
        }
        if (!req_.connection.empty() && list_contains(req_.connection, n)) continue;  // nominated hop-by-hop
        if (removed_by_middleware(n)) continue;
        if (tls_ctx_ && is_identity_header(n)) continue;  // only gatehouse vouches for a client certificate
        append_field(up_head_, n, f.value);
    }
    if (client_id_.verified) {
        const auto& t = tls_ctx_->config();
        if (!t.subject_header.empty() && middleware::valid_header_value(client_id_.subject)) append_field(up_head_, t.subject_header, client_id_.subject);
        if (!t.sans_header.empty() && middleware::valid_header_value(client_id_.sans)) append_field(up_head_, t.sans_header, client_id_.sans);
        if (!t.fingerprint_header.empty()) append_field(up_head_, t.fingerprint_header, client_id_.fingerprint);
    }
    for (auto& [k, v] : mctx_.added_headers())
        if (middleware::valid_header_value(v)) append_field(up_head_, k, v);
    up_head_ += "X-Forwarded-For: "sv;
    if (!xff.empty()) {
        up_head_ += xff;
        up_head_ += ", "sv;
    }
    up_head_ += peer_text_;
    up_head_ += "\r\nX-Forwarded-Proto: "sv;
    up_head_ += xfp.empty() ? (io_.secure() ? std::string_view("https") : std::string_view("http")) : xfp;
    if (!original_host.empty() || !xfh.empty()) {
        up_head_ += "\r\nX-Forwarded-Host: "sv;
        up_head_ += xfh.empty() ? original_host : xfh;
    }
    up_head_ += "\r\nX-Request-Id: "sv;
    up_head_ += request_id_;
    up_head_ += "\r\n"sv;
    if (has_trace_) {
        // The same trace, a new parent: this hop is a span of its own.
        char span[16];
        observability::random_hex(span, 16, [](void* w) { return static_cast<server::worker*>(w)->random(); }, &w_);
        up_head_ += "traceparent: "sv;
        observability::append_traceparent(up_head_, trace_id_, span, trace_flags_);
        up_head_ += "\r\n"sv;
    }
    if (req_.framing == body_framing::content_length) {
        up_head_ += "Content-Length: "sv;
        up_head_ += std::to_string(req_.content_length);
        up_head_ += "\r\n"sv;
    } else if (req_.framing == body_framing::chunked) {
        up_head_ += "Transfer-Encoding: chunked\r\n"sv;
    }
    up_head_ += "\r\n"sv;
}

void client_connection::build_client_head(const response_head& resp, bool chunked_to_client, bool close) {
    status_ = resp.status;
    out_.clear();
    out_ += "HTTP/1.1 "sv;
    out_ += std::to_string(resp.status);
    out_ += ' ';
    if (resp.reason.empty()) out_ += reason_phrase(resp.status);
    else out_ += resp.reason;
    out_ += "\r\n"sv;
    for (auto& f : resp.fields) {
        if (is_hop_by_hop(f.name)) continue;
        if (f.name.size() == 14 && iequals(f.name, "content-length")) continue;
        if (!resp.connection.empty() && list_contains(resp.connection, f.name)) continue;
        append_field(out_, f.name, f.value);
    }
    if (resp.framing == body_framing::content_length || (resp.framing == body_framing::none && resp.has_content_length && resp.status >= 200 && resp.status != 204)) {
        out_ += "Content-Length: "sv;
        out_ += std::to_string(resp.content_length);
        out_ += "\r\n"sv;
    } else if (chunked_to_client) {
        out_ += "Transfer-Encoding: chunked\r\n"sv;
    }
    if (route_chain_ || listener_chain_) {
        run_response_chain(resp.status);
        for (auto& [k, v] : medit_.add)
            if (middleware::valid_header_value(v)) append_field(out_, k, v);
    }
    if (close) out_ += "Connection: close\r\n"sv;
    else if (req_.version == 10) out_ += "Connection: keep-alive\r\n"sv;
    out_ += "\r\n"sv;
}

asio::awaitable<bool> client_connection::proxy(const router::compiled_route& route, std::size_t head_len) {
    const auto& limits = snap_->config.limits;
    auto cluster = w_.cluster_for(*snap_, route.upstream_index);
    const auto& def = cluster->def();
    const auto timeout = route.config.timeout.value_or(limits.request_timeout);

    // Everything needed from the head is copied out before the buffer moves again.
    std::uint64_t hash_key = 0;
    bool has_key = false;
    if (def.lb.policy == config::lb_policy::ring_hash) {
        if (def.lb.hash_on == config::lb_config::hash_source::client_ip) {
            hash_key = upstream::hash64(peer_text_);
            has_key = true;
        } else {
            for (auto& f : req_.fields)
                if (iequals(f.name, def.lb.hash_header)) {
                    hash_key = upstream::hash64(f.value);
                    has_key = true;
                    break;
                }
        }
    }
    const bool is_head = req_.method == "HEAD";
    const bool idempotent = is_idempotent(req_.method);
    const auto framing = req_.framing;
    const std::uint64_t content_length = req_.content_length;
    const bool expect_continue = req_.expect_continue;
    const int version = req_.version;
    const bool client_keep_alive = req_.keep_alive;
    const bool has_body = framing != body_framing::none;

    std::optional<body_decoder<true>> req_decoder;
    if (framing == body_framing::chunked) {
        // Beast decodes the chunked body; it must see the head first. Our scanner has already
        // been stricter than it about the head.
        req_decoder.emplace();
        req_decoder->header_limit(static_cast<std::uint32_t>(head_len + 1));
        req_decoder->body_limit(limits.max_body_bytes);
        req_decoder->sink = &body_out_;
        boost::beast::error_code ec;
        req_decoder->put(asio::buffer(buf_.data().data(), head_len), ec);
        if (ec || !req_decoder->is_header_done()) co_return co_await send_error(400, "malformed request head", true);
        req_decoder->eager(true);  // from here on, one put() decodes everything buffered
    }
    build_upstream_head(route);
    buf_.consume(head_len);  // from here on req_'s views are dead

    upstream::lease ls;
    std::size_t avoid = upstream::k_no_endpoint;
    net::clock::time_point upstream_start{};
    bool body_sent = false;
    head_result hr = head_result::failed_before_response;
    std::size_t resp_head_len = 0;
    for (int attempt = 0;; ++attempt) {
        // 1. An endpoint and a connection; when every endpoint is at max_connections, a place in
        // the pending queue (first come, first served) until one is released or the route's
        // timeout passes (HTTP-EDGE-CASES #70).
        auto ep = attempt == 0 && cluster->queue_first() ? upstream::k_no_endpoint : cluster->pick(hash_key, has_key, avoid);
        if (ep == upstream::k_no_endpoint && attempt == 0) {
            const auto until = net::clock::now() + timeout;
            while (ep == upstream::k_no_endpoint && cluster->can_wait()) {
                // Not in the loop condition: GCC 12 evaluates a co_await in a short-circuited
                // operand even when the left side is already false.
                bool woken = co_await cluster->wait_for_room(until);
                if (!woken) break;
                ep = cluster->pick(hash_key, has_key, avoid);
            }
            if (ep == upstream::k_no_endpoint && !cluster->def().endpoints.empty()) {
                if (auto* st = cluster->stats()) st->pool_overflow.add();
                co_return co_await send_error(503, "upstream connection pool full", has_body || !client_keep_alive);
            }
        }
        if (ep == upstream::k_no_endpoint) co_return co_await send_error(503, "no upstream endpoint available", has_body || !client_keep_alive);
        ls.cluster = cluster;
        ls.conn = cluster->acquire(ep, attempt > 0);
        auto& uc = *ls.conn;
        if (!uc.reused) {
            uc.timer.arm(def.pool.connect_timeout);
            auto [ec] = co_await uc.socket.async_connect(def.endpoints[ep], nothrow_awaitable);
            if (ec) {
                if (auto* st = cluster->stats()) st->connect_failures.add();
                spdlog::warn("upstream {}: connect to {} failed: {}", def.name, def.endpoint_names[ep], uc.timer.fired() ? "timed out" : ec.message());
                ls.done(false);
                if (attempt == 0 && def.endpoints.size() > 1) {
                    avoid = ep;  // one more try, elsewhere; nothing was sent yet
                    continue;
                }
                co_return co_await send_error(502, "upstream connect failed", has_body || !client_keep_alive);
            }
            boost::system::error_code ignored;
            uc.socket.set_option(tcp::no_delay(true), ignored);
            if (def.tls_ctx) {
                SSL* ssl = SSL_new(def.tls_ctx.get());
                std::string name = def.tls_sni.empty() ? def.endpoint_names[ep].substr(0, def.endpoint_names[ep].rfind(':')) : def.tls_sni;
                bool is_ip = !!util::ip_address::parse(name);
                if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
                if (def.tls_verify) {
                    if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
                    else SSL_set1_host(ssl, name.c_str());
                }
                cluster->tls_session(ep).attach(ssl);
                auto hec = co_await uc.io.handshake(ssl, false);  // uc.io owns ssl from here
                if (hec) {
                    if (auto* st = cluster->stats()) st->connect_failures.add();
                    spdlog::warn("upstream {}: TLS handshake with {} failed: {}", def.name, def.endpoint_names[ep], uc.timer.fired() ? "timed out" : hec.message());
                    ls.done(false);
                    if (attempt == 0 && def.endpoints.size() > 1) {
                        avoid = ep;
                        continue;
                    }
                    co_return co_await send_error(502, "upstream TLS handshake failed", has_body || !client_keep_alive);
                }
            }
        }

        // 2. The head, with whatever body bytes already arrived (one write for small requests).
        std::string_view early;
        if (framing == body_framing::content_length && !expect_continue)
            early = buf_.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(content_length, buf_.size())));
        uc.timer.arm(timeout);
        auto [wec, wn] = co_await uc.io.write(up_head_, early);
        if (wec) {
            bool retry = uc.reused && !has_body && idempotent && attempt == 0;
            ls.done(false);
            if (retry) continue;
            co_return co_await send_error(502, "upstream write failed", true);
        }
        buf_.consume(early.size());
        bytes_in_ += early.size();
        upstream_name_ = def.name;
        upstream_addr_ = def.endpoint_names[ep];
        upstream_start = net::clock::now();

        // 3. The request body.
        if (has_body && !body_sent) {
            body_sent = true;
            if (expect_continue && buf_.empty()) {
                if (!co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
            }
            if (framing == body_framing::content_length) {
                std::uint64_t remaining = content_length - early.size();
                while (remaining > 0) {
                    if (buf_.empty()) {
                        auto st = co_await read_more(limits.body_timeout);
                        if (st == io_status::timeout) co_return co_await send_error(408, "request body timeout", true);
                        if (st != io_status::ok) co_return false;  // client gone: the lease closes the upstream side
                    }
                    auto chunk = buf_.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buf_.size())));
                    uc.timer.arm(timeout);
                    auto [ec, n] = co_await uc.io.write(chunk);
                    if (ec) co_return co_await send_error(502, "upstream write failed", true);
                    buf_.consume(chunk.size());
                    bytes_in_ += chunk.size();
                    remaining -= chunk.size();
                }
            } else {
                auto& dec = *req_decoder;
                for (;;) {
                    body_out_.clear();
                    boost::beast::error_code ec;
                    std::size_t used = buf_.empty() ? 0 : dec.put(asio::buffer(buf_.data().data(), buf_.size()), ec);
                    buf_.consume(used);
                    bytes_in_ += used;
                    if (buf_.empty() && !dec.is_done() && !ec) ec = boost::beast::http::error::need_more;
                    if (ec && ec != boost::beast::http::error::need_more) {
                        if (ec == boost::beast::http::error::body_limit) co_return co_await send_error(413, "request body too large", true);
                        if (dec.trailer_too_large) co_return co_await send_error(431, "request trailers too large", true);
                        co_return co_await send_error(400, "malformed chunked body", true);
                    }
                    out_.clear();
                    if (!body_out_.empty()) {
                        append_hex(out_, body_out_.size());
                        out_ += "\r\n"sv;
                    }
                    if (!body_out_.empty()) {
                        body_out_ += "\r\n"sv;
                        uc.timer.arm(timeout);
                        auto [wec2, n2] = co_await uc.io.write(out_, body_out_);
                        if (wec2) co_return co_await send_error(502, "upstream write failed", true);
                    }
                    if (dec.is_done()) break;
                    if (ec == boost::beast::http::error::need_more) {
                        if (buf_.full()) co_return co_await send_error(400, "chunk header too large", true);
                        auto st = co_await read_more(limits.body_timeout);
                        if (st == io_status::timeout) co_return co_await send_error(408, "request body timeout", true);
                        if (st != io_status::ok) co_return false;  // no last-chunk: the upstream request is aborted
                    }
                }
                uc.timer.arm(timeout);
                auto [wec3, n3] = co_await uc.io.write("0\r\n\r\n");
                if (wec3) co_return co_await send_error(502, "upstream write failed", true);
            }
        }

        // 4. The response head; 1xx interim responses are dropped (we never forward Expect).
        bool any_byte = false;
        hr = head_result::ok;
        for (;;) {
            std::size_t scanned = 0;
            for (;;) {
                resp_head_len = find_head_end(uc.buf.data(), scanned);
                if (resp_head_len != std::string_view::npos) break;
                scanned = uc.buf.size();
                if (uc.buf.size() > 65536) {
                    hr = head_result::invalid;
                    break;
                }
                auto [ptr, room] = uc.buf.prepare(16384);
                uc.timer.arm(timeout);
                auto [rec, rn] = co_await uc.io.read_some(ptr, room);
                if (rec) {
                    if (rec == asio::error::operation_aborted && uc.timer.fired()) hr = head_result::timeout;
                    else hr = any_byte ? head_result::closed_mid_head : head_result::failed_before_response;
                    break;
                }
                any_byte = true;
                uc.buf.commit(rn);
            }
            if (hr != head_result::ok) break;
            auto err = scan_response(uc.buf.data().substr(0, resp_head_len), snap_->scan_limits, is_head, resp_);
            if (err) {
                spdlog::warn("upstream {}: invalid response from {}: {}", def.name, def.endpoint_names[ep], err.reason);
                hr = head_result::invalid;
                break;
            }
            if (resp_.status >= 200) break;
            if (resp_.status == 101) {
                hr = head_result::invalid;
                break;
            }
            uc.buf.consume(resp_head_len);
        }
        if (hr == head_result::failed_before_response && uc.reused && !has_body && idempotent && attempt == 0) {
            ls.done(false);  // a stale keep-alive connection: retry once on a fresh one
            continue;
        }
        break;
    }
    auto& uc = *ls.conn;
    switch (hr) {
        case head_result::ok: break;
        case head_result::timeout: co_return co_await send_error(504, "upstream response timeout", !client_keep_alive);
        case head_result::invalid: co_return co_await send_error(502, "invalid upstream response", !client_keep_alive);
        default: co_return co_await send_error(502, "upstream closed the connection", !client_keep_alive);
    }

    // 5. The response. Its upstream metrics are recorded however the relay ends.
    struct upstream_record {
        client_connection* self;
        observability::upstream_shard* stats;
        net::clock::time_point start;
        int status;
        ~upstream_record() {
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(net::clock::now() - start).count();
            self->upstream_ms_ = static_cast<double>(ns) / 1e6;
            if (!stats) return;
            stats->requests[observability::code_slot(status)].add();
            stats->duration.observe(static_cast<std::uint64_t>(ns));
        }
    } upstream_rec{this, cluster->stats(), upstream_start, resp_.status};
    const auto resp_framing = resp_.framing;
    const bool chunked_to_client = (resp_framing == body_framing::chunked || resp_framing == body_framing::until_close) && version == 11;
    bool close = !client_keep_alive || w_.draining() || ((resp_framing == body_framing::chunked || resp_framing == body_framing::until_close) && version == 10);
    std::optional<body_decoder<false>> resp_decoder;
    if (resp_framing == body_framing::chunked) {
        resp_decoder.emplace();
        resp_decoder->header_limit(static_cast<std::uint32_t>(resp_head_len + 1));
        resp_decoder->body_limit(boost::none);
        resp_decoder->sink = &body_out_;
        boost::beast::error_code ec;
        resp_decoder->put(asio::buffer(uc.buf.data().data(), resp_head_len), ec);
        if (ec || !resp_decoder->is_header_done()) co_return co_await send_error(502, "invalid upstream response", !client_keep_alive);
        resp_decoder->eager(true);
    }
    build_client_head(resp_, chunked_to_client, close);
    uc.buf.consume(resp_head_len);
    const bool upstream_keep_alive = resp_.keep_alive;

    bool complete = false;  // the whole response body arrived from the upstream
    // A response that is already complete in the upstream buffer (no body, or a small body that
    // arrived with the head) is copied out and its connection goes back to the pool before the
    // client write: the next request can reuse it at once, whatever the client does.
    constexpr std::uint64_t k_copy_limit = 8 * 1024;  // larger bodies are written from the buffer
    if (resp_framing == body_framing::none ||
        (resp_framing == body_framing::content_length && resp_.content_length <= std::min<std::uint64_t>(k_copy_limit, uc.buf.size()))) {
        auto body = resp_framing == body_framing::none ? std::string_view{} : uc.buf.data().substr(0, static_cast<std::size_t>(resp_.content_length));
        out_.append(body.data(), body.size());
        uc.buf.consume(body.size());
        ls.done(upstream_keep_alive && uc.buf.empty());
        co_return co_await write_client(out_) && !close;
    }
    if (resp_framing == body_framing::content_length) {
        std::uint64_t remaining = resp_.content_length;
        auto first = uc.buf.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(remaining, uc.buf.size())));
        if (!co_await write_client(out_, first)) co_return false;
        uc.buf.consume(first.size());
        remaining -= first.size();
        while (remaining > 0) {
            auto [ptr, room] = uc.buf.prepare(65536);
            uc.timer.arm(timeout);
            auto [ec, n] = co_await uc.io.read_some(ptr, static_cast<std::size_t>(std::min<std::uint64_t>(room, remaining)));
            if (ec) co_return false;  // truncated upstream: the client sees the connection close, never a fake end
            uc.buf.commit(n);
            auto chunk = uc.buf.data();
            if (!co_await write_client(chunk)) co_return false;
            uc.buf.consume(chunk.size());
            remaining -= chunk.size();
        }
        complete = true;
    } else {
        // chunked or until_close: decode (or pass through) and re-frame for this client.
        bool head_written = false;
        for (;;) {
            body_out_.clear();
            bool done = false;
            if (resp_framing == body_framing::chunked) {
                boost::beast::error_code ec;
                std::size_t used = uc.buf.empty() ? 0 : resp_decoder->put(asio::buffer(uc.buf.data().data(), uc.buf.size()), ec);
                uc.buf.consume(used);
                if (ec && ec != boost::beast::http::error::need_more) {
                    spdlog::warn("upstream {}: malformed chunked response body", def.name);
                    if (!head_written) co_return co_await send_error(502, "invalid upstream response", true);
                    co_return false;
                }
                done = resp_decoder->is_done();
            } else {
                auto d = uc.buf.data();
                body_out_.append(d.data(), d.size());
                uc.buf.consume(d.size());
            }
            out_.resize(head_written ? 0 : out_.size());
            if (!body_out_.empty()) {
                if (chunked_to_client) {
                    append_hex(out_, body_out_.size());
                    out_ += "\r\n"sv;
                    body_out_ += "\r\n"sv;
                }
            }
            if (done && chunked_to_client) body_out_ += "0\r\n\r\n"sv;
            if (!out_.empty() || !body_out_.empty()) {
                if (!co_await write_client(out_, body_out_)) co_return false;
                head_written = true;
            }
            if (done) break;
            auto [ptr, room] = uc.buf.prepare(16384);
            if (room == 0) co_return false;
            uc.timer.arm(timeout);
            auto [ec, n] = co_await uc.io.read_some(ptr, room);
            if (ec) {
                if (resp_framing == body_framing::until_close && ec == asio::error::eof) {
                    if (chunked_to_client && !co_await write_client("0\r\n\r\n")) co_return false;
                    break;  // the end of a close-delimited body
                }
                co_return false;  // truncated: close, no fabricated completion
            }
            uc.buf.commit(n);
        }
        complete = resp_framing == body_framing::chunked;
    }
    ls.done(complete && upstream_keep_alive && uc.buf.empty());
    co_return !close;
}

}  // namespace gatehouse::http
