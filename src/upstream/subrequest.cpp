#include "upstream/subrequest.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "http1/body_decoder.hpp"
#include "upstream/subrequest_h2.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

namespace {

// The response body after its head (already consumed from uc.buf), into `out` up to `max_body`.
asio::awaitable<bool> read_body(upstream_connection& uc, const http1::response_head& head, std::size_t max_body,
                                net::clock::duration timeout, std::string& out) {
    if (head.framing == http1::body_framing::none) co_return true;
    if (head.framing == http1::body_framing::content_length && head.content_length > max_body) co_return false;
    std::optional<http1::body_decoder<false>> dec;
    if (head.framing == http1::body_framing::chunked) {
        dec.emplace();
        dec->sink = &out;
        dec->body_limit(max_body);
        // The decoder must see a head first: a minimal one that says chunked.
        static constexpr std::string_view k_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        boost::beast::error_code ec;
        dec->feed(k_head, ec);
        if (ec) co_return false;
        dec->eager(true);
    }
    for (;;) {
        if (dec) {
            boost::beast::error_code ec;
            auto used = uc.buf.empty() ? 0 : dec->feed(uc.buf.data(), ec);
            uc.buf.consume(used);
            if (ec && ec != boost::beast::http::error::need_more) co_return false;
            if (dec->is_done()) co_return true;
        } else {
            auto d = uc.buf.data();
            out.append(d.data(), d.size());
            uc.buf.consume(d.size());
            if (out.size() > max_body) co_return false;
            if (head.framing == http1::body_framing::content_length && out.size() >= head.content_length) {
                out.resize(static_cast<std::size_t>(head.content_length));
                co_return true;
            }
        }
        auto [ptr, room] = uc.buf.prepare(16384);
        uc.timer.arm(timeout);
        auto [ec, n] = co_await uc.io.read_some(ptr, room);
        if (ec) co_return (ec == asio::error::eof && head.framing == http1::body_framing::until_close);
        uc.buf.commit(n);
    }
}

// The call's overall deadline (options.timeout bounds the whole call, not each read: an upstream
// trickling a byte per read would otherwise keep it alive): a timer that emits the terminal
// cancellation the coroutine is bound to, on the caller's signal (subrequest::cancel) or one of
// its own. Shared by the coroutine, its completion and the timer's handler.
struct call_state {
    call_state(asio::io_context& ioc, subrequest_done d, std::shared_ptr<asio::cancellation_signal> s)
        : timer(ioc), signal(s ? std::move(s) : std::make_shared<asio::cancellation_signal>()), done(std::move(d)) {}
    asio::steady_timer timer;
    std::shared_ptr<asio::cancellation_signal> signal;
    subrequest_done done;
    bool expired = false;  // the deadline passed: the call ends as a timeout
    bool answered = false;  // done ran
    bool over = false;      // the coroutine ended
    void answer(subresponse&& r) {
        answered = true;
        timer.cancel();
        done(std::move(r));
    }
};

subresponse timed_out() {
    subresponse out;
    out.error = upstream_error{failure::timeout};
    return out;
}

asio::awaitable<void> run(std::shared_ptr<cluster_state> cluster, subrequest r, std::shared_ptr<call_state> st) {
    subresponse out;
    http1::response_head head;
    call c(std::move(cluster), r.options, head);
    buffered_sender sender(r.request, c.def().tls_ctx != nullptr);
    out.error = co_await c.run(sender);
    if (!out.error) {
        out.status = head.status;
        out.fields.reserve(head.fields.size());
        for (auto& f : head.fields) out.fields.emplace_back(std::string(f.name), std::string(f.value));
        if (auto* stream = c.stream()) {  // an HTTP/2 upstream's answer
            out.ok = true;
            if (r.max_body != 0) out.ok = co_await read_stream_body(*stream, r.max_body, r.options.timeout, out.body);
            out.too_large = !out.ok && out.body.size() > r.max_body;
            if (out.ok && stream->ended)
                for (auto& f : stream->trailers.view()) out.trailers.emplace_back(std::string(f.name), std::string(f.value));
            c.finish(true);
        } else {
            auto& uc = c.conn();
            uc.buf.consume(c.head_len());
            out.ok = true;  // no co_await in a short-circuited operand: GCC 12 evaluates it anyway
            if (r.max_body != 0) out.ok = co_await read_body(uc, head, r.max_body, r.options.timeout, out.body);
            out.too_large = !out.ok && (out.body.size() > r.max_body ||
                                        (head.framing == http1::body_framing::content_length && head.content_length > r.max_body));
            const bool whole = r.max_body != 0 && out.ok && !st->expired;
            c.finish(whole && head.keep_alive && head.framing != http1::body_framing::until_close && uc.buf.empty());
        }
    }
    if (st->expired) out = timed_out();  // what the cancelled wait left is no answer
    st->answer(std::move(out));
}

}  // namespace

asio::awaitable<upstream_error> buffered_sender::send(upstream_connection& uc, net::clock::duration timeout) {
    const bool stale = uc.reused;
    uc.timer.arm(timeout);
    auto [ec, n] = co_await uc.io.write(request_, {});
    co_return ec ? upstream_error{failure::write, stale} : upstream_error{};
}

asio::awaitable<upstream_error> buffered_sender::send_stream(h2_connection& c, const std::shared_ptr<h2_stream>& s, net::clock::duration) {
    co_return submit_buffered(c, s, request_, tls_);
}

void start_subrequest(asio::io_context& ioc, std::shared_ptr<cluster_state> cluster, subrequest r, subrequest_done done) {
    // The caller's cancellation (not `expired`) ends the call without an answer.
    auto st = std::make_shared<call_state>(ioc, std::move(done), std::move(r.cancel));
    if (r.options.timeout > net::clock::duration::zero()) {
        st->timer.expires_after(r.options.timeout);
        st->timer.async_wait([weak = std::weak_ptr<call_state>(st)](boost::system::error_code ec) {
            auto s = weak.lock();
            if (ec || !s || s->answered || s->over) return;
            s->expired = true;
            auto signal = s->signal;  // held here: the call it ends may drop the state
            signal->emit(asio::cancellation_type::terminal);
        });
    }
    auto slot = st->signal->slot();
    asio::co_spawn(ioc, run(std::move(cluster), std::move(r), st),
                   asio::bind_cancellation_slot(slot, [st](const std::exception_ptr&) {
                       // Cancelled where it waited: by the deadline, an answer (a timeout);
                       // by the caller, none.
                       st->over = true;  // nothing to cancel any more: the signal may outlive the coroutine
                       st->timer.cancel();
                       if (!st->answered && st->expired) st->answer(timed_out());
                   }));
}

}  // namespace gatehouse::upstream
