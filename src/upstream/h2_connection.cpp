// An HTTP/2 connection to an upstream (h2_connection.hpp): the nghttp2 client session, its
// reader and writer, the streams of the calls that share it.
#include "upstream/h2_connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "http/session_host.hpp"
#include "net/h2_mem.hpp"
#include "observability/log_limit.hpp"
#include "upstream/connect.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

namespace {
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t k_max_head_bytes = 64 * 1024;  // a response head (or trailers) larger than this resets the stream
}  // namespace

const std::vector<http1::field_view>& h2_fields::view() {
    views_.clear();
    for (auto& s : spans_) {
        http1::field_view f;
        f.name = std::string_view(bytes_).substr(s.at, s.name);
        f.value = std::string_view(bytes_).substr(s.at + s.name, s.value);
        views_.push_back(f);
    }
    return views_;
}

// nghttp2's callbacks, each a thin step into the connection or one of its streams.
struct h2_callbacks {
    static h2_connection& of(void* user) { return *static_cast<h2_connection*>(user); }

    // A head begins while an interim one nobody took yet is there: the interim one is dropped.
    static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        auto* s = of(user).find(frame->hd.stream_id);
        if (s && s->head_ready && !s->final_head) {
            s->fields.clear();
            s->head_ready = false;
            s->status = 0;
        }
        return 0;
    }

    static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                      const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
        auto* s = of(user).find(frame->hd.stream_id);
        if (!s || frame->hd.type != NGHTTP2_HEADERS) return 0;
        const std::string_view n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
        auto& into = s->final_head ? s->trailers : s->fields;
        if (into.bytes() + namelen + valuelen > k_max_head_bytes) {
            s->header_error = true;
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets the stream
        }
        if (!n.empty() && n[0] == ':') {
            if (n == ":status" && !s->final_head) {
                int st = 0;
                for (char c : v) st = st * 10 + (c - '0');  // nghttp2 checked it is three digits
                s->status = st;
            }
            return 0;
        }
        into.add(n, v);
        return 0;
    }

    static int frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
        auto& c = of(user);
        if (frame->hd.type == NGHTTP2_GOAWAY) {
            c.goaway_ = true;  // streams above its last id close as refused (stream_close)
            return 0;
        }
        if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
            c.ping_outstanding_ = false;
            return 0;
        }
        (void)session;
        if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK) && c.state_ == h2_connection::state::opening) {
            c.opened(h2_connection::state::up);  // the server's limits are known: streams may go
            return 0;
        }
        auto* s = c.find(frame->hd.stream_id);
        if (!s) return 0;
        if (frame->hd.type == NGHTTP2_HEADERS) {
            s->processed();
            if (!s->final_head) {
                s->head_ready = true;
                s->final_head = s->status >= 200 || s->status == 101;
            }
        }
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            s->ended = true;
        s->notify();
        return 0;
    }

    static int data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len, void* user) {
        auto* s = of(user).find(id);
        if (!s || s->abandoned) {
            nghttp2_session_consume(session, id, len);  // nobody takes it: the windows go on
            return 0;
        }
        s->body.append(reinterpret_cast<const char*>(data), len);
        s->notify();
        return 0;
    }

    static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
        of(user).stream_closed(id, code);
        return 0;
    }

    // The request body: the stream's pending view (a body in hand, the piece the sender offered,
    // a refused stream's copy sent again), then what its source (the client's stream, as it
    // arrives) has, copied into DATA frames.
    static ssize_t read_body(nghttp2_session* session, std::int32_t id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                             nghttp2_data_source* source, void*) {
        auto& s = *static_cast<h2_stream*>(source->ptr);
        std::size_t n = std::min(length, s.pending.size());
        if (n != 0) std::memcpy(buf, s.pending.data(), n);
        s.pending.remove_prefix(n);
        if (s.source && s.pending.empty() && n < length) {
            const auto piece = s.source->body_ready();
            const auto m = std::min(length - n, piece.size());
            if (m != 0) {
                std::memcpy(buf + n, piece.data(), m);
                s.source->consume_body(m);  // the client's window opens by what went on
                n += m;
            }
        }
        s.keep_sent(buf, n);
        if (s.source) {
            if (n != 0 || !s.source->body_done()) return more(s, n);
            s.set_trailers(s.source->request_trailers());
        } else {
            if (!s.pending.empty()) return more(s, n);
            s.notify();  // the sender waits for its piece to be taken
            if (!s.body_end) return more(s, n);
        }
        s.sent_bytes += n;
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        s.body_open = false;
        if (!s.out_trailers.empty()) {
            std::vector<nghttp2_nv> nv;
            for (auto& [k, v] : s.out_trailers)
                nv.push_back({reinterpret_cast<std::uint8_t*>(k.data()), reinterpret_cast<std::uint8_t*>(v.data()), k.size(), v.size(),
                              NGHTTP2_NV_FLAG_NONE});
            if (nghttp2_submit_trailer(session, id, nv.data(), nv.size()) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
        return static_cast<ssize_t>(n);
    }

    // Bytes of the body went (n), or none is there yet: nghttp2 asks again after resume().
    static ssize_t more(h2_stream& s, std::size_t n) {
        s.sent_bytes += n;
        if (n != 0) return static_cast<ssize_t>(n);
        s.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
};

void h2_stream::body_arrived() {
    if (conn) conn->resume(*this);
}

void h2_stream::reset() {
    constexpr std::size_t keep = 64 * 1024;  // a buffer that grew past this gives its memory back
    id = -1;
    status = 0;
    fields.clear();
    trailers.clear();
    fields.release_memory();
    trailers.release_memory();
    head_ready = final_head = ended = closed = refused = header_error = abandoned = false;
    error_code = 0;
    body.clear();
    if (body.capacity() > keep) std::string().swap(body);
    handed = 0;
    source = nullptr;
    pending = {};
    kept.clear();
    if (kept.capacity() > keep) std::string().swap(kept);
    head.clear();
    body_end = deferred = body_open = false;
    out_trailers.clear();
    sent_bytes = 0;
    processed();
    wake.expires_at(boost::asio::steady_timer::time_point::max());
    pump_wake.expires_at(boost::asio::steady_timer::time_point::max());
    waiters = pump_waiters = 0;
}

struct stream_recycler {
    void operator()(h2_stream* s) const noexcept { h2_connection::recycle(s); }
};

std::shared_ptr<h2_stream> h2_connection::new_stream(asio::io_context& ioc) {
    std::unique_ptr<h2_stream> s;
    if (!spares_.empty()) {
        s = std::move(spares_.back());
        spares_.pop_back();
    } else {
        s = std::make_unique<h2_stream>(ioc);
    }
    s->conn = shared_from_this();
    return std::shared_ptr<h2_stream>(s.release(), stream_recycler{}, net::h2_allocator<h2_stream>{});
}

// The stream's last owner let go: a spare for the connection's next request (the connection
// may go with this, its spares with it).
void h2_connection::recycle(h2_stream* raw) noexcept {
    std::unique_ptr<h2_stream> s(raw);
    auto c = std::move(s->conn);
    if (!c || c->state_ == state::dead || c->spares_.size() >= k_spares) return;
    s->reset();
    c->spares_.push_back(std::move(s));
}

void h2_stream::set_trailers(const http::trailers& t) {
    out_trailers.clear();
    for (auto& f : t) {
        if (http::is_hop_by_hop(f.name) || http::iequals(f.name, "host") || http::iequals(f.name, "content-length")) continue;
        std::string name(f.name);
        for (auto& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        out_trailers.emplace_back(std::move(name), std::string(f.value));
    }
}

h2_connection::h2_connection(asio::io_context& ioc, net::deadline_list& dl, std::shared_ptr<endpoint_state> ep,
                             std::shared_ptr<const cluster> def)
    : uc_(ioc, dl, std::move(ep)),
      def_(std::move(def)),
      wake_writer_(ioc, asio::steady_timer::time_point::max()),
      wake_open_(ioc, asio::steady_timer::time_point::max()) {
    idle_since_ = net::coarse_now();
}

h2_connection::~h2_connection() {
    if (session_) nghttp2_session_del(session_);
}

h2_stream* h2_connection::find(std::int32_t id) {
    for (auto& [sid, s] : streams_)
        if (sid == id) return s.get();
    return nullptr;
}

bool h2_connection::has_room() const {
    if (state_ == state::dead || goaway_ || closing_) return false;
    std::size_t cap = def_->http2.max_concurrent_streams;
    if (session_) cap = std::min<std::size_t>(cap, nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
    return streams() < cap;
}

asio::awaitable<failure> h2_connection::open(cluster_state& cluster) {
    auto self = shared_from_this();
    // An opener cancelled on the way (its client left) leaves no connection stuck opening: the
    // calls waiting for it and the pool see it dead.
    struct settle {
        h2_connection& c;
        ~settle() {
            if (c.state_ != state::opening) return;
            c.opened(state::dead);
            boost::system::error_code ignored;
            c.uc_.socket.close(ignored);  // the reader ends
            c.kick();                     // and the writer
        }
    } guard{*this};
    auto f = co_await open_connection(cluster, uc_);
    if (f == failure::none && uc_.io.secure()) {
        const unsigned char* proto = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(uc_.io.ssl(), &proto, &len);
        const std::string_view chosen(reinterpret_cast<const char*>(proto), len);
        if (chosen != "h2" && def_->protocol_fallback) {
            spdlog::info("upstream {}: {} does not speak h2 (ALPN: '{}'); HTTP/1.1 from now on (protocol_fallback)", def_->name,
                         uc_.ep->key, chosen);
            uc_.ep->speaks_http1 = fell_back_ = true;
            f = failure::tls;
        } else if (chosen != "h2") {
            observability::warn_limited(uc_.ep->key, "upstream {}: {} did not choose h2 by ALPN ('{}')", def_->name, uc_.ep->key, chosen);
            f = failure::tls;
        }
    }
    if (f == failure::none && !start_session()) f = failure::connect;
    if (f != failure::none) {
        uc_.timer.disarm();
        opened(state::dead);
        co_return f;
    }
    // Up once the server's SETTINGS came (its SETTINGS_MAX_CONCURRENT_STREAMS above all), within
    // what is left of connect_timeout: the deadline closes the socket, which ends the reader.
    auto& ioc = static_cast<asio::io_context&>(uc_.socket.get_executor().context());
    asio::co_spawn(ioc, reader(self), asio::detached);
    asio::co_spawn(ioc, writer(self), asio::detached);
    while (state_ == state::opening) {
        ++open_waiters_;
        co_await wake_open_.async_wait(nothrow);
        --open_waiters_;
    }
    const bool late = uc_.timer.fired();
    uc_.timer.disarm();
    if (state_ == state::up && closing_) {  // closed while it opened (close())
        nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
        kick();
    }
    if (state_ != state::up) {
        if (auto* st = cluster.stats()) st->connect_failures.add();
        observability::warn_limited(uc_.ep->key, "upstream {}: no HTTP/2 SETTINGS from {}{}", def_->name, uc_.ep->key,
                                    late ? " in time" : "");
        co_return failure::connect;
    }
    co_return failure::none;
}

void h2_connection::opened(state s) {
    state_ = s;
    if (s == state::dead) fail_all();
    if (open_waiters_) wake_open_.cancel();
}

asio::awaitable<bool> h2_connection::wait_open(net::clock::time_point until) {
    // The timer never expires: open() ends within pool.connect_timeout (its deadline cancels the
    // connect and the handshake) and wakes every waiter; `until` bounds only the wait's start.
    auto self = shared_from_this();
    while (state_ == state::opening && net::clock::now() < until) {
        ++open_waiters_;
        co_await wake_open_.async_wait(nothrow);
        --open_waiters_;
    }
    co_return state_ == state::up;
}

bool h2_connection::start_session() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_callbacks::begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_callbacks::header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_callbacks::frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_callbacks::data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_callbacks::stream_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);  // windows are credited as the relay takes the body
    nghttp2_option_set_peer_max_concurrent_streams(opt, 100);  // until the server's SETTINGS say otherwise
    const int rv = nghttp2_session_client_new3(&session_, cb, this, opt, net::h2_mem());
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return false;
    const auto& h2 = def_->http2;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.initial_stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(k_max_head_bytes)},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, std::size(iv));
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(h2.connection_window));
    return true;
}

// A stream's reserved place becomes the stream once submitted; a stream that could not be
// submitted keeps it until the call gives it up (release_stream: unreserve).
bool h2_connection::submit(std::shared_ptr<h2_stream> s, const std::vector<nghttp2_nv>& nv, bool has_body) {
    if (state_ != state::up || goaway_ || closing_) return false;
    nghttp2_data_provider prd;
    prd.source.ptr = s.get();
    prd.read_callback = h2_callbacks::read_body;
    s->body_open = has_body;
    const auto id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), has_body ? &prd : nullptr, nullptr);
    if (id < 0) {
        goaway_ = true;  // no stream ids left (2^31 used), or the session refuses: no more streams here
        return false;
    }
    --reserved_;
    s->id = id;
    s->conn = shared_from_this();
    streams_.emplace_back(id, std::move(s));
    kick();
    return true;
}

void h2_connection::consume(h2_stream& s, std::size_t n) {
    if (n == 0 || state_ != state::up) return;
    if (!s.closed) nghttp2_session_consume(session_, s.id, n);
    else nghttp2_session_consume_connection(session_, n);
    kick();
}

void h2_connection::resume(h2_stream& s) {
    if (!s.deferred || s.closed || state_ != state::up) return;
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
    kick();
}

// Whatever of the body nobody took is credited (the connection's window would shrink by it for
// good: a connection whose window is gone sends no DATA on any stream), and so is what still
// arrives until the RST_STREAM went out.
void h2_connection::abandon(h2_stream& s) {
    s.pending = {};  // nothing the caller owns is read from here on
    s.body_end = true;
    s.abandoned = true;
    if (state_ != state::up || s.id < 0) return;
    if (!s.body.empty() || s.handed != 0) consume(s, s.body.size() + s.handed);
    s.body.clear();
    s.handed = 0;
    if (!s.closed && (!s.ended || s.body_open)) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
    kick();
}

void h2_connection::stream_closed(std::int32_t id, std::uint32_t code) {
    for (std::size_t i = 0; i < streams_.size(); ++i) {
        if (streams_[i].first != id) continue;
        auto s = std::move(streams_[i].second);
        if (i + 1 != streams_.size()) streams_[i] = std::move(streams_.back());
        streams_.pop_back();
        s->closed = true;
        s->error_code = code;
        if (code == NGHTTP2_REFUSED_STREAM) s->refused = true;
        s->notify();
        break;
    }
    if (streams_.empty()) {
        idle_since_ = net::coarse_now();
        pinged_ = false;
    }
}

// The connection is lost: every stream on it fails (a connection error fails only its streams).
void h2_connection::fail_all() {
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, s] : streams) {
        s->closed = true;
        if (s->error_code == 0) s->error_code = NGHTTP2_CONNECT_ERROR;
        s->notify();
    }
}

void h2_connection::kick() {
    if (!writer_waiting_) return;
    writer_waiting_ = false;
    wake_writer_.cancel();
}

// `self` keeps the connection alive while it reads (and writes, below).
asio::awaitable<void> h2_connection::reader([[maybe_unused]] std::shared_ptr<h2_connection> self) {
    auto& buf = uc_.buf;
    for (;;) {
        auto [ptr, room] = buf.prepare(16384);
        auto [ec, n] = co_await uc_.io.read_some(ptr, room);
        if (ec) {
            if (!closing_)
                spdlog::debug("upstream {}: HTTP/2 connection to {} ended: {}", def_->name, uc_.ep->key, ec.message());
            break;
        }
        buf.commit(n);
        auto d = buf.data();
        const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(d.data()), d.size());
        buf.consume(d.size());
        kick();
        if (rv < 0) {
            observability::warn_limited(uc_.ep->key, "upstream {}: HTTP/2 error from {}: {}", def_->name, uc_.ep->key,
                                        nghttp2_strerror(static_cast<int>(rv)));
            break;
        }
        if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
    }
    opened(state::dead);
    boost::system::error_code ignored;
    uc_.socket.close(ignored);
    kick();
}

asio::awaitable<void> h2_connection::writer([[maybe_unused]] std::shared_ptr<h2_connection> self) {
    bool failed = false;
    while (state_ != state::dead) {
        out_.clear();
        while (out_.size() < 65536) {
            const std::uint8_t* data = nullptr;
            auto n = nghttp2_session_mem_send(session_, &data);
            if (n < 0) failed = true;  // fatal (out of memory, a callback's failure): the connection ends
            if (n <= 0) break;
            out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        if (failed) break;
        if (!out_.empty()) {
            auto [ec, n] = co_await uc_.io.write(out_);
            if (ec) break;
            continue;
        }
        if (closing_ && streams_.empty()) break;
        wake_writer_.expires_at(asio::steady_timer::time_point::max());
        writer_waiting_ = true;
        co_await wake_writer_.async_wait(nothrow);
        writer_waiting_ = false;
    }
    boost::system::error_code ignored;
    uc_.socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    uc_.socket.cancel(ignored);  // the reader ends
}

// GOAWAY, and the writer ends the connection once no stream is left. A connection still opening
// says it once it is up (the pool no longer ticks it: nothing else would close it).
void h2_connection::close() {
    if (closing_) return;
    closing_ = true;
    if (state_ != state::up) return;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    kick();
}

bool h2_connection::tick(net::clock::time_point now) {
    if (state_ == state::dead) return true;
    if (state_ != state::up || !streams_.empty() || reserved_ > 0) return false;
    if (closing_ || goaway_) {
        close();
        return true;  // no stream left: it goes
    }
    const auto& h2 = def_->http2;
    if (now - idle_since_ >= def_->pool.idle_timeout) {
        close();
        return true;
    }
    if (ping_outstanding_ && now - ping_sent_ >= h2.ping_timeout) {
        observability::warn_limited(uc_.ep->key, "upstream {}: no PING ACK from {} in {} ms; connection closed", def_->name, uc_.ep->key,
                                    std::chrono::duration_cast<std::chrono::milliseconds>(h2.ping_timeout).count());
        close();
        boost::system::error_code ignored;
        uc_.socket.close(ignored);
        return true;
    }
    if (h2.ping_interval.count() > 0 && !pinged_ && now - idle_since_ >= h2.ping_interval) {
        pinged_ = ping_outstanding_ = true;
        ping_sent_ = now;
        nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
        kick();
    }
    return false;
}

}  // namespace gatehouse::upstream
