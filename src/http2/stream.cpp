// One HTTP/2 stream (stream.hpp): its request head checked and handed to the exchange, its
// body pulled with flow control as backpressure, its response as frames.
#include "http2/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstring>

#include "gatehouse/http/fields.hpp"
#include "http/session_host.hpp"
#include "http2/connection.hpp"
#include "net/hpack_policy.hpp"

namespace gatehouse::http2 {

namespace asio = boost::asio;
using http::body_status;

stream::stream(connection& c, std::int32_t id)
    : c_(c),
      id_(id),
      ex_(c.host(), c.listener(), *this),
      last_activity_(net::clock::now()),
      wake_(c.host().ioc(), asio::steady_timer::time_point::max()) {
    ex_.begin();
}

stream::~stream() = default;

void stream::recycle(std::int32_t id) {
    id_ = id;
    watcher_ = nullptr;
    response_sent_ = stop_request_ = unread_ = false;
    raw_.clear();
    for (auto* s : {&raw_bytes_, &method_, &scheme_, &authority_, &path_, &protocol_, &cookie_, &ws_key_, &body_, &nv_store_}) s->clear();
    fields_.clear();
    trailers_.clear();
    trailer_store_.clear();
    trailer_view_ = {};
    head_bytes_ = 0;
    refuse_ = 0;
    refuse_reason_ = "";
    pseudo_done_ = extended_ = tunnelling_ = tunnel_ended_ = false;
    tunnel_idle_ = {};
    body_received_ = body_limit_ = 0;
    request_ended_ = too_large_ = false;
    nv_.clear();
    pending_ = {};
    data_end_ = submitted_ = deferred_ = trailers_wanted_ = false;
    trailer_out_.clear();
    closed_ = running_ = false;
    waiters_ = 0;
    close_code_ = 0;
    last_activity_ = net::clock::now();
    ex_.begin();
}

const http::connection_facts& stream::facts() const { return c_.facts(); }

void stream::wake() {
    if (watcher_) watcher_->body_arrived();
    if (waiters_ == 0) return;  // a cancel with nobody waiting still takes the reactor's timer lock
    wake_.cancel();
}

// The timer never expires; wake() cancels every wait on it, so both directions of a tunnel can
// wait at once.
asio::awaitable<void> stream::wait() {
    ++waiters_;
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    --waiters_;
}

// RFC 9113 §8.2 and §8.3: pseudo-fields first, each once, only the request's; our field rules
// on every name and value (nghttp2 checks them too); connection-specific fields refused; the
// head's size counted as it is decoded (limits.max_header_bytes, max_headers), so an HPACK
// bomb costs no memory beyond the limit. The clock is read once per header block (begin_headers:
// the stream's start or touch()), not per field.
bool stream::add_field(std::string_view name, std::string_view value, bool trailer) {
    const auto& limits = c_.host().current()->config.limits;
    head_bytes_ += name.size() + value.size() + 32;  // RFC 9113 §6.5.2's accounting
    if (head_bytes_ > limits.max_header_bytes || raw_.size() + trailers_.size() >= limits.max_headers) {
        refuse_ = 431;
        refuse_reason_ = "request header fields too large";
        return !trailer;  // too large trailers: the stream is reset
    }
    if (!name.empty() && name[0] == ':') {
        if (pseudo_done_ || trailer) return false;
        std::string* slot = name == ":method"      ? &method_
                            : name == ":scheme"    ? &scheme_
                            : name == ":authority" ? &authority_
                            : name == ":path"      ? &path_
                            : name == ":protocol"  ? &protocol_
                                                   : nullptr;
        if (!slot || !slot->empty()) return false;
        slot->assign(value);
        return true;
    }
    pseudo_done_ = true;
    if (!http::valid_h2_request_name(name) || !http::valid_field_value(value)) return false;
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" || name == "upgrade")
        return false;
    if (name == "te" && !http::iequals(value, "trailers")) return false;
    if (trailer) {
        if (http::is_forbidden_trailer(name)) return true;
        trailer_store_.emplace_back(name, value);
        return true;
    }
    if (name == "cookie") {  // crumbs joined for HTTP/1 upstreams (RFC 9113 §8.2.3)
        if (!cookie_.empty()) cookie_ += "; ";
        cookie_ += value;
        return true;
    }
    raw_.push_back({static_cast<std::uint32_t>(raw_bytes_.size()), static_cast<std::uint32_t>(name.size()),
                    static_cast<std::uint32_t>(value.size())});
    raw_bytes_.append(name).append(value);
    return true;
}

const char* stream::check_head() {
    if (method_.empty() || (method_ != "CONNECT" && (scheme_.empty() || path_.empty()))) return "malformed request head";
    if (!protocol_.empty() && (!extended_ || scheme_.empty() || path_.empty() || authority_.empty())) return "malformed extended CONNECT";
    if (method_ == "CONNECT" && !extended_) return "CONNECT is not supported";
    for (auto& f : raw_)
        if (raw_name(f) == "host") {
            if (authority_.empty()) authority_ = raw_value(f);
            else if (!http::iequals(authority_, raw_value(f))) return ":authority and host disagree";
        }
    if (path_[0] != '/' && !(path_ == "*" && method_ == "OPTIONS")) return "malformed request target";
    // The HTTP/1 reader's rules for the target and the host: nghttp2 lets a fragment, obs-text
    // and a ',' through :path and :authority, and an upstream must never read a target or a
    // host other than the ones gatehouse routed on (nor one its own reader would refuse).
    if (!http::valid_target_chars(path_)) return "malformed request target";
    if (!authority_.empty() && !http::valid_host(authority_)) return "invalid :authority";
    return nullptr;
}

void stream::head_done() {
    extended_ = method_ == "CONNECT" && !protocol_.empty() && c_.listener().cfg.http2.websocket;
    fields_.clear();
    for (auto& f : raw_)
        if (!extended_ || raw_name(f) != "sec-websocket-key") fields_.push_back({raw_name(f), raw_value(f)});
    if (!cookie_.empty()) fields_.push_back({"cookie", cookie_});
    if (extended_) add_upgrade_fields();
}

http::request_head stream::neutral_head() {
    http::request_head h;
    h.method = extended_ ? std::string_view("GET") : std::string_view(method_);  // the Upgrade it becomes upstream
    h.scheme = scheme_;
    h.authority = authority_;
    std::string_view target = path_;
    auto q = target.find('?');
    h.path = target.substr(0, q);
    if (q != std::string_view::npos) {
        h.query = target.substr(q + 1);
        h.has_query = true;
    }
    h.fields = fields_;
    for (auto& f : fields_)
        if (f.name == "content-length") {
            std::uint64_t n = 0;
            auto [p, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
            if (ec == std::errc() && p == f.value.data() + f.value.size()) h.content_length = n;
        }
    h.has_body = !extended_ && (!request_ended_ || h.content_length.value_or(0) > 0);  // a tunnel's DATA is no body
    return h;
}

void stream::data(const std::uint8_t* p, std::size_t n) {
    last_activity_ = net::clock::now();
    body_received_ += n;
    ex_.bytes_in += n;
    if (unread_) {
        nghttp2_session_consume(c_.session(), id_, n);  // nobody reads it any more: the window goes on
    } else if (body_limit_ && body_received_ > body_limit_) {
        // A body sent on as it arrives (full duplex to an HTTP/2 upstream) cannot be answered
        // with a 413 once under way: the stream is reset, which cancels the call and resets the
        // upstream's stream (never an END_STREAM on a cut body).
        if (!too_large_ && watcher_ && !closed_) nghttp2_submit_rst_stream(c_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
        too_large_ = true;
        nghttp2_session_consume(c_.session(), id_, n);  // dropped: the window goes on
    } else {
        body_.append(reinterpret_cast<const char*>(p), n);
    }
    wake();
}

// A body already past max_body_bytes when the upstream's stream starts watching it (it came
// while the call connected, or before a refused stream's resend) resets the stream as it would
// have had it come later.
void stream::watch_body(http::body_watcher* w) {
    watcher_ = w;
    if (!w || !too_large_ || closed_) return;
    nghttp2_submit_rst_stream(c_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    c_.kick();
}

void stream::end_of_request() {
    request_ended_ = true;
    trailers_.clear();
    for (auto& [k, v] : trailer_store_) trailers_.push_back({k, v});
    trailer_view_ = trailers_;
    wake();
}

void stream::response_sent() {
    response_sent_ = true;
    if (stop_request_ && !closed_ && !request_ended_) nghttp2_submit_rst_stream(c_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
    stop_request_ = false;
}

void stream::closed(std::uint32_t error_code) {
    closed_ = true;
    close_code_ = error_code;
    if (running_ && error_code != NGHTTP2_NO_ERROR) cancel_.emit(asio::cancellation_type::terminal);  // the upstream call ends now
    wake();
}

void stream::consume_body(std::size_t n) {
    body_.erase(0, n);
    if (!closed_) nghttp2_session_consume(c_.session(), id_, n);  // the client may send this much more
    c_.kick();
}

asio::awaitable<body_status> stream::read_body() {
    const auto before = body_.size();
    for (;;) {
        if (too_large_) co_return body_status::too_large;
        if (request_ended_ || body_.size() > before) co_return body_status::ok;
        if (closed_) co_return body_status::gone;
        co_await wait();
    }
}

// The request through the exchange. A reset stream cancels the coroutine (and the upstream
// call it waits in): the exchange still completes (access log, metrics) with what it had.
asio::awaitable<void> stream::run() {
    running_ = true;
    try {
        co_await serve_request();
    } catch (const boost::system::system_error&) {
        // cancelled (the stream was reset, or the connection ended)
    }
    ex_.end_call();
    // A request body nobody read: the client is told to stop sending it (RFC 9113 §8.1), after
    // the whole response (nghttp2 sends RST_STREAM before DATA still queued; a gRPC client takes
    // a reset before the trailers for a failed call).
    if (!closed_ && !request_ended_) {
        if (response_sent_ || !submitted_) nghttp2_submit_rst_stream(c_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
        else stop_request_ = true;
        // Nobody reads the body from here on: what came and what still comes is credited.
        if (!body_.empty()) nghttp2_session_consume(c_.session(), id_, body_.size());
        body_.clear();
        unread_ = true;
    }
    if (closed_ && close_code_ != NGHTTP2_NO_ERROR && ex_.status == 0) ex_.status = 499;
    ex_.complete();
    running_ = false;
    c_.kick();
}

asio::awaitable<void> stream::serve_request() {
    const auto& limits = c_.host().current()->config.limits;
    const char* problem = refuse_ ? refuse_reason_ : check_head();
    ex_.note_head(neutral_head(), problem == nullptr, path_);
    if (extended_) ex_.note_client_method(method_);  // logged as CONNECT, routed as the GET it becomes
    ex_.bytes_in += head_bytes_;  // the head as decoded (RFC 9113's accounting), not its HPACK size
    if (problem) {
        co_await ex_.send_error(refuse_ ? refuse_ : 400, problem);
        co_return;
    }
    if (c_.host().shed_for_memory()) {
        static const std::pair<std::string, std::string> retry_after{"Retry-After", "1"};
        co_await ex_.send_error(503, "server over its memory limit", http::exchange::extra_fields(&retry_after, 1));
        co_return;
    }
    if (auto why = path_ == "*" ? nullptr : ex_.normalise_path()) {
        co_await ex_.send_error(400, why);
        co_return;
    }
    bool written = false;
    auto answer = ex_.decide();
    if (extended_ && ex_.route && !allows_tunnel(*ex_.route)) {
        co_await ex_.send_error(403, "this route does not tunnel the protocol asked for");
        co_return;
    }
    answer = ex_.pass_chain(answer);
    bool upstream = answer == http::exchange::answer::upstream;
    if (!upstream) {
        const auto next = co_await ex_.serve(answer, written);
        upstream = next == http::exchange::next::upstream;
    }
    if (!upstream) {
        if (ex_.route && ex_.mctx.wants_background() && !ex_.req.has_body) ex_.start_background();
        co_return;
    }
    if (!extended_) body_limit_ = ex_.route->config.max_body_bytes.value_or(limits.max_body_bytes);
    ex_.needs_switch = extended_;
    co_await ex_.proxy();
    if (!ex_.switched()) co_return;
    if (extended_) co_await tunnel();
    else reset();  // a 101 to a request that did not ask for a tunnel (RFC 9113 §8.6)
}

void stream::add_nv(std::string_view name, std::string_view value) {
    // Views into nv_store_ are taken once it stops growing (build_nv). One resize and a copy,
    // not an append per character (that was ~90 instructions a field: callgrind, h2c).
    nv_.push_back({nullptr, nullptr, name.size(), value.size(), net::index_flag(name)});
    const auto at = nv_store_.size();
    nv_store_.resize(at + name.size() + value.size());
    char* p = nv_store_.data() + at;
    for (char ch : name) *p++ = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
}

// The head as HPACK input: :status, the fields (names lower-case, connection-specific ones
// dropped: RFC 9113 §8.2.2), content-length when known.
void stream::build_nv(const http::response_head& h, bool with_status, bool end_stream) {
    nv_.clear();
    nv_store_.clear();
    if (with_status) {
        char digits[4];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, h.status);
        add_nv(":status", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    auto one = [&](const http::field& f) {
        if (http::is_hop_by_hop(f.name) || http::iequals(f.name, "content-length")) return;
        if (tunnelling_ && http::iequals(f.name, "sec-websocket-accept")) return;  // RFC 8441 §5: not used
        add_nv(f.name, f.value);
    };
    if (h.kept) {  // a relayed head: the forwarding policy kept no hop-by-hop field, nor the length
        for (auto i : *h.kept) {
            const auto& f = h.fields[i];
            if (tunnelling_ && http::iequals(f.name, "sec-websocket-accept")) continue;
            add_nv(f.name, f.value);
        }
    } else {
        for (auto& f : h.fields) one(f);
    }
    for (auto& f : h.added) one(f);
    if (h.content_length && (!end_stream || h.status != 304)) {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *h.content_length);
        add_nv("content-length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    point_nv();
}

// The name/value pointers into nv_store_, once it stopped growing.
void stream::point_nv() {
    auto* p = reinterpret_cast<std::uint8_t*>(nv_store_.data());
    for (auto& nv : nv_) {
        nv.name = p;
        p += nv.namelen;
        nv.value = p;
        p += nv.valuelen;
    }
}

asio::awaitable<http::interim_outcome> stream::send_interim(const http::response_head& head) {
    if (closed_) co_return http::interim_outcome::gone;
    if (head.status == 101) co_return http::interim_outcome::dropped;  // no protocol switch in HTTP/2
    build_nv(head, true, false);
    nghttp2_submit_headers(c_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, nv_.data(), nv_.size(), nullptr);
    c_.kick();
    co_return http::interim_outcome::sent;
}

asio::awaitable<bool> stream::send_head(const http::response_head& head, std::string_view data, bool end_stream) {
    if (closed_) co_return false;
    if (ex_.req.method == "HEAD") {
        data = {};
        end_stream = true;
    }
    const bool bodiless = end_stream && data.empty();
    build_nv(head, true, bodiless);
    ex_.bytes_out += nv_store_.size() + 32 * nv_.size();
    pending_ = data;
    data_end_ = end_stream;
    nghttp2_data_provider prd;
    prd.source.ptr = this;
    prd.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                           nghttp2_data_source* source,
                           void*) -> ssize_t { return static_cast<stream*>(source->ptr)->read_data(buf, length, flags); };
    submitted_ = true;
    if (nghttp2_submit_response(c_.session(), id_, nv_.data(), nv_.size(), bodiless ? nullptr : &prd) != 0) co_return false;
    last_activity_ = net::clock::now();
    c_.kick();
    co_return co_await wait_sent();
}

asio::awaitable<bool> stream::send_data(std::string_view data, bool end_stream) {
    if (closed_) co_return false;
    if (ex_.req.method == "HEAD") co_return true;
    pending_ = data;
    data_end_ = end_stream;
    if (deferred_) {
        deferred_ = false;
        nghttp2_session_resume_data(c_.session(), id_);
    }
    c_.kick();
    co_return co_await wait_sent();
}

asio::awaitable<bool> stream::send_trailers(const http::trailers& t) {
    if (closed_) co_return false;
    trailer_out_.clear();
    for (auto& f : t) trailer_out_.emplace_back(std::string(f.name), std::string(f.value));
    trailers_wanted_ = true;
    co_return co_await send_data({}, true);
}

// Until read_data took what was offered (copied into frames): backpressure from the client's
// window and the connection's writer.
asio::awaitable<bool> stream::wait_sent() {
    while (!pending_.empty() && !closed_) co_await wait();
    co_return pending_.empty();
}

ssize_t stream::read_data(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
    const std::size_t n = std::min(length, pending_.size());
    if (n != 0) std::memcpy(buf, pending_.data(), n);
    ex_.bytes_out += n;
    pending_.remove_prefix(n);
    last_activity_ = net::clock::now();
    if (pending_.empty()) {
        wake();
        if (data_end_) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (trailers_wanted_) {
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                nv_.clear();
                nv_store_.clear();
                for (auto& [k, v] : trailer_out_) add_nv(k, v);
                point_nv();
                nghttp2_submit_trailer(c_.session(), id_, nv_.data(), nv_.size());
            }
        } else if (n == 0) {
            deferred_ = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return static_cast<ssize_t>(n);
}

void stream::reset() {
    if (!closed_) nghttp2_submit_rst_stream(c_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
    c_.kick();
}

}  // namespace gatehouse::http2
