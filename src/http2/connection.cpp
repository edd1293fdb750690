// The HTTP/2 connection (connection.hpp): the nghttp2 session, its reader and writer, streams.
#include "http2/connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "http/session_host.hpp"
#include "net/h2_mem.hpp"
#include "http2/stream.hpp"

namespace gatehouse::http2 {

namespace asio = boost::asio;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// nghttp2's callbacks, each a thin step into the connection or the stream.
struct callbacks {
    static connection& of(void* user) { return *static_cast<connection*>(user); }

    static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        auto& c = of(user);
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {  // trailers: activity, once for the block
            if (auto* s = c.find(frame->hd.stream_id)) s->touch();
            return 0;
        }
        const auto& h2 = c.p_.listener->cfg.http2;
        if (c.closing_ || (h2.max_requests_per_connection && c.started_ >= h2.max_requests_per_connection)) {
            nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        ++c.started_;
        c.streams_.add(frame->hd.stream_id, c.new_stream(frame->hd.stream_id));
        return 0;
    }

    static int header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                      const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
        auto* s = of(user).find(frame->hd.stream_id);
        if (!s || frame->hd.type != NGHTTP2_HEADERS) return 0;
        const bool trailer = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
        if (!s->add_field({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen}, trailer))
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
        return 0;
    }

    static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
        auto& c = of(user);
        c.meter_.productive();
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
            if (auto* s = c.find(frame->hd.stream_id)) s->response_sent();
        return 0;
    }

    static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        auto& c = of(user);
        auto* s = c.find(frame->hd.stream_id);
        if (!s) return 0;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) s->end_of_request();
            s->head_done();
            ++c.running_;
            auto self = *c.streams_.find(frame->hd.stream_id);
            asio::co_spawn(c.p_.host.ioc(), run_stream(c, std::move(self)),
                           asio::bind_cancellation_slot(s->cancel().slot(), asio::detached));
            return 0;
        }
        if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            s->end_of_request();
        return 0;
    }

    // The stream's coroutine holds it alive; the connection waits for all of them before it goes.
    static asio::awaitable<void> run_stream(connection& c, std::shared_ptr<stream> s) {
        try {
            co_await s->run();
        } catch (const std::exception& e) {
            spdlog::debug("HTTP/2 stream {} ended: {}", s->id(), e.what());
        }
        c.stream_done(*s);
    }

    static int data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len, void* user) {
        auto* s = of(user).find(id);
        if (!s) {
            nghttp2_session_consume_connection(session, len);  // nobody takes it: the window goes on
            return 0;
        }
        s->data(data, len);
        return 0;
    }

    static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user) {
        auto& c = of(user);
        auto s = c.streams_.take(id);
        if (!s) return 0;
        s->closed(error_code);
        c.count_close(error_code);
        c.arm_idle();
        return 0;
    }
};

connection::connection(connection_parts parts)
    : p_(std::move(parts)),
      wake_writer_(p_.host.ioc(), asio::steady_timer::time_point::max()),
      wake_done_(p_.host.ioc(), asio::steady_timer::time_point::max()),
      tick_timer_(p_.host.ioc()) {
    p_.facts.protocol = "HTTP/2";
}

connection::~connection() {
    if (session_) nghttp2_session_del(session_);
}

stream* connection::find(std::int32_t id) {
    auto* s = streams_.find(id);
    return s ? s->get() : nullptr;
}

// Only a waiting writer is woken: a cancel takes the reactor's timer lock and queue even when
// nothing waits, and kick() runs for every stream event; a writer that is busy looks at the
// session again after its write anyway.
void connection::kick() {
    if (!writer_waiting_) return;
    writer_waiting_ = false;
    wake_writer_.cancel();
}

// Stream objects (each with its exchange, strings and vectors at their capacity) are kept for the
// connection's next streams: building and destroying one per stream was ~9 % of an h2c request's
// CPU (perf, benchmarks.md). At most k_spare_streams wait; an idle connection gives them back.
std::shared_ptr<stream> connection::new_stream(std::int32_t id) {
    std::unique_ptr<stream> s;
    if (spare_.empty()) {
        s = std::make_unique<stream>(*this, id);
    } else {
        s = std::move(spare_.back());
        spare_.pop_back();
        s->recycle(id);
    }
    return std::shared_ptr<stream>(s.release(), [this](stream* done) {
        if (spare_.size() < k_spare_streams && !dead_) spare_.emplace_back(done);
        else delete done;
    });
}

// Rapid Reset (CVE-2023-44487) and MadeYouReset (CVE-2025-8671): streams reset by either side
// cost the upstream work they started; once resets outpace completed streams by more than a
// burst, the connection is told to calm down and ends.
void connection::count_close(std::uint32_t error_code) {
    if (error_code == NGHTTP2_NO_ERROR) ++completed_;
    else ++resets_;
    if (resets_ > completed_ + k_reset_burst && !closing_) {
        spdlog::warn("HTTP/2 connection from {}: {} streams reset, {} completed: GOAWAY ENHANCE_YOUR_CALM", p_.facts.peer, resets_,
                     completed_);
        end(NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

// A flood of frames that carry no work (frame_meter.hpp): GOAWAY ENHANCE_YOUR_CALM, and nothing
// more of what the client sends is processed.
bool connection::flooded(std::string_view bytes) {
    meter_.feed(bytes);
    if (!meter_.flooded()) return false;
    if (!closing_) {
        spdlog::warn("HTTP/2 connection from {}: {} control frames against {} carrying work: GOAWAY ENHANCE_YOUR_CALM", p_.facts.peer,
                     meter_.control(), meter_.productive_count());
        end(NGHTTP2_ENHANCE_YOUR_CALM);
    }
    return true;
}

void connection::stream_done(stream&) {
    --running_;
    kick();
    wake_done_.cancel();
    arm_idle();
}

// The last stream ended while the reader waits for frames (armed for a connection with streams
// open, i.e. not at all): limits.idle_timeout counts from now, as for a connection that never
// opened a stream; the reader says GOAWAY when it fires.
void connection::arm_idle() {
    if (!streams_.empty() || running_ > 0 || closing_ || dead_) return;
    p_.deadline.set_idle(true);
    p_.deadline.arm(p_.host.current()->config.limits.idle_timeout);
}

bool connection::start_session() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, callbacks::begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, callbacks::header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, callbacks::frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, callbacks::frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, callbacks::data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, callbacks::stream_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);  // windows are credited as the exchange consumes
    const auto& h2 = p_.listener->cfg.http2;
    nghttp2_option_set_max_outbound_ack(opt, 1000);  // SETTINGS/PING floods: ACKs the peer does not read
    nghttp2_option_set_max_settings(opt, 32);
    const int rv = nghttp2_session_server_new3(&session_, cb, this, opt, net::h2_mem());
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return false;
    const auto& limits = p_.host.current()->config.limits;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.initial_stream_window},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, h2.max_frame_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits.max_header_bytes)},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // RFC 8441: WebSocket over HTTP/2
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, std::size(iv) - (h2.websocket ? 0 : 1));
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(h2.connection_window));
    return true;
}

asio::awaitable<void> serve(connection_parts parts) {
    connection c(std::move(parts));
    co_await c.run();
}

asio::awaitable<void> connection::run() {
    if (!start_session()) co_return;
    idle_since_ = net::clock::now();
    helpers_ = 2;
    asio::co_spawn(p_.host.ioc(), writer(), asio::detached);
    asio::co_spawn(p_.host.ioc(), ticker(), asio::detached);
    co_await reader();
    // The reader is done: no more frames are read. Streams still running are cancelled (their
    // upstream calls with them), and the connection waits for every coroutine that uses it.
    dead_ = true;
    for (auto& [id, s] : streams_)
        if (s->running()) s->cancel().emit(asio::cancellation_type::terminal);
    kick();
    tick_timer_.cancel();
    while (running_ > 0 || helpers_ > 0) {
        wake_done_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_done_.async_wait(nothrow);
        kick();
    }
}

void connection::helper_done() {
    --helpers_;
    wake_done_.cancel();
}

asio::awaitable<void> connection::reader() {
    auto& buf = p_.buf;
    for (;;) {
        if (!buf.empty()) {
            auto d = buf.data();
            const auto rv = flooded(d) ? 0 : nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(d.data()), d.size());
            buf.consume(d.size());
            kick();
            if (rv < 0) {
                spdlog::debug("HTTP/2 connection from {}: {}", p_.facts.peer, nghttp2_strerror(static_cast<int>(rv)));
                co_return;
            }
        }
        if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) co_return;
        if (closing_ && streams_.empty() && !nghttp2_session_want_write(session_)) co_return;  // else the GOAWAY goes first
        const bool idle = streams_.empty();
        if (idle) spare_.clear();  // an idle connection holds no stream objects
        p_.deadline.set_idle(idle);  // a drain or the idle timeout may end a connection with no stream
        if (idle) p_.deadline.arm(p_.host.current()->config.limits.idle_timeout);
        else p_.deadline.disarm();
        if (idle && buf.empty() && out_.empty() && p_.io.quiet()) {
            // No stream and nothing buffered: wait for the next frame holding no read buffer, as
            // an idle HTTP/1 connection does (the read buffer, TLS's record buffer, the writer's
            // coalescing buffer: ~50 KiB of an idle h2 connection otherwise).
            buf.release();
            std::string().swap(out_);
            p_.io.release_idle_memory();
            auto [wec] = co_await p_.io.wait_readable();
            if (wec) {
                if (p_.deadline.fired() && !goaway_sent_) co_await say_goaway();
                co_return;
            }
        }
        auto [ptr, room] = buf.prepare(16384);
        auto [ec, n] = co_await p_.io.read_some(ptr, room);
        if (ec) {
            // Idle past limits.idle_timeout (or a drain) with no stream open: a GOAWAY says the
            // close is orderly, written here (the writer has nothing else to send).
            if (streams_.empty() && p_.deadline.fired() && !goaway_sent_) co_await say_goaway();
            co_return;
        }
        buf.commit(n);
    }
}

asio::awaitable<void> connection::say_goaway() {
    goaway_sent_ = closing_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR, nullptr, 0);
    std::string out;
    const std::uint8_t* data = nullptr;
    for (auto n = nghttp2_session_mem_send(session_, &data); n > 0; n = nghttp2_session_mem_send(session_, &data))
        out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    if (out.empty()) co_return;
    p_.deadline.arm(std::chrono::seconds(1));  // a peer that does not read gets no more than this
    co_await p_.io.write(out);
}

asio::awaitable<void> connection::writer() {
    co_await write_frames();
    helper_done();
}

asio::awaitable<void> connection::write_frames() {
    for (;;) {
        if (dead_ && running_ == 0) co_return;
        out_.clear();
        while (!dead_ && out_.size() < 65536) {
            const std::uint8_t* data = nullptr;
            auto n = nghttp2_session_mem_send(session_, &data);
            if (n <= 0) break;
            out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        if (!out_.empty()) {
            auto [ec, n] = co_await p_.io.write(out_);
            if (ec) {
                dead_ = true;
                boost::system::error_code ignored;
                p_.socket.cancel(ignored);  // the reader ends too
                co_return;
            }
            continue;
        }
        // Closed once our GOAWAY is out and no stream is left, or once nghttp2 is done with the
        // session: after the GOAWAY of a connection error it wants neither to read nor to write,
        // and RFC 9113 §5.4.1 says the TCP connection then closes (the reader would wait for the
        // client's next bytes or the idle timeout).
        const bool over = !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
        if (over || (closing_ && streams_.empty() && goaway_sent_)) {
            boost::system::error_code ignored;
            p_.socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
            p_.socket.cancel(ignored);
        }
        wake_writer_.expires_at(asio::steady_timer::time_point::max());
        writer_waiting_ = true;
        co_await wake_writer_.async_wait(nothrow);
        writer_waiting_ = false;
        if (dead_ && running_ == 0) co_return;
    }
}

asio::awaitable<void> connection::ticker() {
    while (!dead_) {
        tick_timer_.expires_after(std::chrono::seconds(1));
        co_await tick_timer_.async_wait(nothrow);
        if (!dead_) tick();
    }
    helper_done();
}

// Once a second: a drain sends GOAWAY (streams in flight finish); a stream with no byte either
// way for stream_idle_timeout is reset (its upstream call cancelled).
void connection::tick() {
    if (p_.host.draining() && !closing_) end(NGHTTP2_NO_ERROR);
    const auto idle = p_.listener->cfg.http2.stream_idle_timeout;
    const auto now = net::clock::now();
    for (auto& [id, s] : streams_) {
        if (now - s->last_activity() <= s->idle_limit(idle)) continue;
        // Reset, and its work cancelled now: a client that stopped reading may never let the
        // RST_STREAM out, and its upstream connection must not wait for that.
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        if (s->running()) s->cancel().emit(asio::cancellation_type::terminal);
    }
    kick();
}

// GOAWAY. NO_ERROR (a drain): streams in flight finish, new ones are refused, then the
// connection closes. An error (an attack): the session ends once the GOAWAY is out, and the
// streams still running are cancelled with it.
void connection::end(std::uint32_t error_code) {
    closing_ = true;
    if (!goaway_sent_) {
        const auto last = nghttp2_session_get_last_proc_stream_id(session_);
        if (error_code == NGHTTP2_NO_ERROR) nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last, error_code, nullptr, 0);
        else nghttp2_session_terminate_session2(session_, last, error_code);
        goaway_sent_ = true;
    }
    kick();
}

}  // namespace gatehouse::http2
