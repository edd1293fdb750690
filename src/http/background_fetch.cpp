// request_context::request_in_background: after the chain answered the client, the request as
// it would have been proxied goes to the route's upstream on a detached coroutine of the same
// worker; its response (head, and a body up to a limit) is handed to the middleware's handler.
// A cache refreshes a stale entry this way (stale-while-revalidate) without a client waiting.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "http/body_decoder.hpp"
#include "http/connection.hpp"
#include "upstream/cluster.hpp"
#include "upstream/connect.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::http {

namespace {

using middleware::background_response;

// Reads the response body after its head (already consumed from uc.buf) into out.body.
asio::awaitable<bool> read_body(upstream::upstream_connection& uc, const response_head& head, std::size_t head_len, std::size_t max_body,
                                net::clock::duration timeout, background_response& out) {
    if (head.framing == body_framing::none) co_return true;
    if (head.framing == body_framing::content_length && head.content_length > max_body) co_return false;
    std::optional<body_decoder<false>> dec;
    (void)head_len;
    std::string raw;
    if (head.framing == body_framing::chunked) {
        dec.emplace();
        dec->sink = &out.body;
        dec->body_limit(max_body);
        // The decoder must see a head first: a minimal one that says chunked.
        static constexpr std::string_view k_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        boost::beast::error_code ec;
        dec->put(asio::buffer(k_head.data(), k_head.size()), ec);
        if (ec) co_return false;
        dec->eager(true);
    }
    for (;;) {
        if (dec) {
            boost::beast::error_code ec;
            auto used = uc.buf.empty() ? 0 : dec->put(asio::buffer(uc.buf.data().data(), uc.buf.size()), ec);
            uc.buf.consume(used);
            if (ec && ec != boost::beast::http::error::need_more) co_return false;
            if (dec->is_done()) co_return true;
        } else {
            auto d = uc.buf.data();
            out.body.append(d.data(), d.size());
            uc.buf.consume(d.size());
            if (out.body.size() > max_body) co_return false;
            if (head.framing == body_framing::content_length && out.body.size() >= head.content_length) {
                out.body.resize(static_cast<std::size_t>(head.content_length));
                co_return true;
            }
        }
        auto [ptr, room] = uc.buf.prepare(16384);
        uc.timer.arm(timeout);
        auto [ec, n] = co_await uc.io.read_some(ptr, room);
        if (ec) co_return ec == asio::error::eof && head.framing == body_framing::until_close;
        uc.buf.commit(n);
    }
}

asio::awaitable<void> fetch(std::shared_ptr<upstream::cluster_state> cluster, std::string request, net::clock::duration timeout, std::size_t max_body,
                            scan_limits limits, bool is_head, middleware::background_handler done) {
    background_response out;
    out.request_time = std::chrono::system_clock::now();
    auto finish = [&](bool ok) {
        out.ok = ok;
        out.response_time = std::chrono::system_clock::now();
        done(std::move(out));
    };
    auto ep = cluster->size() == 0 ? upstream::k_no_endpoint : cluster->pick(0, false, upstream::k_no_endpoint);
    if (ep == upstream::k_no_endpoint) co_return finish(false);
    upstream::lease ls;
    ls.cluster = cluster;
    ls.conn = cluster->acquire(ep);
    auto& uc = *ls.conn;
    if (!uc.reused && co_await upstream::open_connection(*cluster, uc) != upstream::failure::none) co_return finish(false);
    uc.timer.arm(timeout);
    auto [wec, wn] = co_await uc.io.write(request, {});
    if (wec) co_return finish(false);
    std::size_t scanned = 0, head_len = 0;
    response_head head;
    for (;;) {  // interim answers are skipped
        for (;;) {
            head_len = find_head_end(uc.buf.data(), scanned);
            if (head_len != std::string_view::npos) break;
            scanned = uc.buf.size();
            if (uc.buf.size() > 65536) co_return finish(false);
            auto [ptr, room] = uc.buf.prepare(16384);
            uc.timer.arm(timeout);
            auto [rec, rn] = co_await uc.io.read_some(ptr, room);
            if (rec) co_return finish(false);
            uc.buf.commit(rn);
        }
        if (scan_response(uc.buf.data().substr(0, head_len), limits, is_head, head)) co_return finish(false);
        if (head.status >= 200) break;
        uc.buf.consume(head_len);
        scanned = 0;
    }
    out.status = head.status;
    for (auto& f : head.fields) out.fields.emplace_back(std::string(f.name), std::string(f.value));
    uc.buf.consume(head_len);
    if (!co_await read_body(uc, head, head_len, max_body, timeout, out)) co_return finish(false);
    ls.done(head.keep_alive && head.framing != body_framing::until_close && uc.buf.empty());
    finish(true);
}

}  // namespace

void client_connection::start_background(const router::compiled_route& r) {
    auto handler = mctx_.take_background();
    if (!handler || r.config.respond || r.config.redirect) return;
    chosen_upstream_ = choose_upstream(r);
    build_upstream_head(r);
    auto cluster = w_.cluster_for(*snap_, chosen_upstream_);
    auto timeout = r.config.timeout.value_or(snap_->config.limits.request_timeout);
    asio::co_spawn(w_.ioc(), fetch(std::move(cluster), up_head_, timeout, mctx_.background_max_body(), snap_->scan_limits, req_.method == "HEAD", std::move(handler)),
                   asio::detached);
}

}  // namespace gatehouse::http
