// The proxied request to an HTTP/2 upstream (streamed_request.hpp): the forwarded request's
// fields as an HTTP/2 header list, and its body as the stream's DATA. A body in hand goes from a
// copy the stream keeps (a retry may send it again); a client that speaks HTTP/2 too streams
// it as it arrives while the response comes back (full duplex: gRPC's bidirectional calls);
// an HTTP/1 client's body is read and handed over piece by piece before the response is read.
#include "http/forwarded_request.hpp"
#include "net/hpack_policy.hpp"
#include "upstream/h2_connection.hpp"
#include "upstream/streamed_request.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <cstring>

namespace gatehouse::upstream {

namespace asio = boost::asio;
using namespace std::string_view_literals;

// "name: value\r\n" written in one growth of the head, the name lower-cased as it is copied (an
// HTTP/2 client's names are lower-case already, RFC 9113 §8.2.1; an HTTP/1 client's may not be).
namespace {

// `s` lower-cased into `dst` (HTTP/2 field names), eight bytes at a time: a byte below 0x80 in
// 'A'..'Z' gains 0x20, every other byte is copied as it is (the byte loop cost ~9 instructions
// a byte: callgrind, ~1,300 a gRPC call).
char* copy_lower(char* dst, std::string_view s) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        const std::uint64_t low7 = w & ~highs;  // no carry between bytes in the sums below
        const std::uint64_t at_least_a = low7 + (0x80 - 'A') * ones;
        const std::uint64_t above_z = low7 + (0x80 - 'Z' - 1) * ones;
        const std::uint64_t upper = at_least_a & ~above_z & ~w & highs;
        w |= upper >> 2;
        std::memcpy(dst + i, &w, 8);
    }
    for (; i < s.size(); ++i) dst[i] = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] + 32) : s[i];
    return dst + s.size();
}

}  // namespace

void streamed_request::add_h2(std::string_view name, std::string_view value) {
    const auto at = head_.size();
    nv_span s{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name.size()),
              static_cast<std::uint32_t>(at + name.size() + 2), static_cast<std::uint32_t>(value.size())};
    head_.resize(at + name.size() + value.size() + 4);
    char* p = head_.data() + at;
    p = copy_lower(p, name);
    *p++ = ':';
    *p++ = ' ';
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
    p += value.size();
    *p++ = '\r';
    *p = '\n';
    spans_.push_back(s);
}

// RFC 9113 §8.3.1 and §8.2.2: pseudo-fields first; no Host (it is :authority), nothing
// connection-specific (the forwarding policy removed those), TE only as "trailers".
void streamed_request::start_h2(const http::forwarded_request& f, bool tls) {
    spans_.clear();
    add_h2(":method", f.method);
    add_h2(":scheme", tls ? "https"sv : "http"sv);
    add_h2(":authority", f.authority);
    // The last field's value goes on with `a` and `b` (no temporary string for the joined value).
    auto extend_last = [&](std::string_view a, std::string_view b) {
        head_.resize(head_.size() - 2);
        head_.append(a).append(b).append("\r\n"sv);
        spans_.back().value_len += static_cast<std::uint32_t>(a.size() + b.size());
    };
    add_h2(":path", f.path);
    if (f.has_query) extend_last("?"sv, f.query);
    for (auto i : f.kept) add_h2(f.source[i].name, f.source[i].value);
    for (auto& a : f.added) add_h2(a.name, a.value);
    if (f.te_trailers) add_h2("te", "trailers");
    if (f.forwarded_for_claim.empty()) {
        add_h2("x-forwarded-for", f.peer);
    } else {
        add_h2("x-forwarded-for", f.forwarded_for_claim);
        extend_last(", "sv, f.peer);
    }
    add_h2("x-forwarded-proto", f.forwarded_proto);
    if (!f.forwarded_host.empty()) add_h2("x-forwarded-host", f.forwarded_host);
    add_h2("x-request-id", f.request_id);
    if (!f.traceparent.empty()) add_h2("traceparent", f.traceparent);
    if (f.content_length) {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *f.content_length);
        add_h2("content-length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
}

// protocol_fallback: an endpoint of an h2 upstream that speaks only HTTP/1.1 gets the request
// as an HTTP/1.1 head made from the header list (pseudo-fields to the request line and Host).
std::string_view streamed_request::http1_head() {
    if (!h2_) return head_;
    auto field = [&](const nv_span& s) { return std::string_view(head_).substr(s.name, s.value + s.value_len - s.name); };
    auto value = [&](const nv_span& s) { return std::string_view(head_).substr(s.value, s.value_len); };
    auto& out = h1_head_;
    out.clear();
    out += value(spans_[0]);
    out += ' ';
    out += value(spans_[3]);
    out += " HTTP/1.1\r\nHost: "sv;
    out += value(spans_[2]);
    out += "\r\n"sv;
    bool te = false;
    for (std::size_t i = 4; i < spans_.size(); ++i) {
        out += field(spans_[i]);
        out += "\r\n"sv;
        te |= spans_[i].name_len == 2 && head_.compare(spans_[i].name, 2, "te") == 0;
    }
    if (te) out += "Connection: te\r\n"sv;
    if (chunked_) out += "Transfer-Encoding: chunked\r\n"sv;
    out += "\r\n"sv;
    return out;
}

// The header list points into head_, which tracing may have edited in place since start().
void streamed_request::point_nv() {
    nv_.clear();
    auto* base = reinterpret_cast<std::uint8_t*>(head_.data());
    for (auto& s : spans_)
        nv_.push_back({base + s.name, base + s.value, s.name_len, s.value_len, NGHTTP2_NV_FLAG_NONE});
}

namespace {

// The header list moved onto the stream's own copy of its bytes, which nghttp2 then need not
// copy (NO_COPY): the sender's head may change for the next try or go with the call while the
// HEADERS frame still waits in the session's queue; the stream stays with the connection until
// that frame is written or dropped (an RST_STREAM before it cancels it unsent).
void pin_nv(std::vector<nghttp2_nv>& nv, std::string_view from, std::string& to) {
    to.assign(from);
    const auto* old_base = reinterpret_cast<const std::uint8_t*>(from.data());
    auto* base = reinterpret_cast<std::uint8_t*>(to.data());
    for (auto& f : nv) {
        f.name = base + (f.name - old_base);
        f.value = base + (f.value - old_base);
        f.flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
        f.flags |= net::index_flag(std::string_view(reinterpret_cast<const char*>(f.name), f.namelen));
    }
}

}  // namespace

asio::awaitable<upstream_error> streamed_request::send_stream(h2_connection& c, const std::shared_ptr<h2_stream>& s,
                                                              net::clock::duration timeout) {
    timeout_ = timeout;
    point_nv();
    pin_nv(nv_, head_, s->head);
    if (!has_body_) {
        if (!c.submit(s, nv_, false)) co_return upstream_error{failure::closed, true};
        co_return upstream_error{};
    }
    if (replayable_ || (holding_ && held_whole_)) {
        // The body stays in hand until release(); the stream sends its own copy, which outlives
        // the call (nghttp2 may ask for it after the response head came).
        s->kept.assign(kept_body());
        s->pending = s->kept;
        s->body_end = true;
        s->set_trailers(d_->request_trailers());
        body_sent_ = true;
        if (!c.submit(s, nv_, true)) co_return upstream_error{failure::closed, true};
        co_return upstream_error{};
    }
    // A streamed body: after a refused stream, what went on it first (a copy), then the rest.
    if (resendable()) s->kept = std::move(streamed_on_->resend);
    streamed_on_ = s;
    s->keep_resend = true;
    if (d_->full_duplex() && !holding_) {
        s->pending = s->kept;
        s->source = d_;
        d_->watch_body(s.get());
        if (!c.submit(s, nv_, true)) co_return upstream_error{failure::closed, true};
        co_return upstream_error{};
    }
    if (!c.submit(s, nv_, true)) co_return upstream_error{failure::closed, true};
    // A middleware's body phase took the first bytes (holding_): those, then the rest; a resend
    // starts from its copy, which holds them.
    // (the copy is a prefix of the held bytes and what followed them: the held ones it lacks go next)
    const std::string_view held = holding_ ? std::string_view(held_).substr(std::min(s->kept.size(), held_.size())) : std::string_view{};
    for (const auto first : {std::string_view(s->kept), held}) {
        if (first.empty()) continue;
        auto err = co_await offer(c, *s, first);
        if (err) co_return err;
    }
    co_return co_await pump_h2(c, *s);
}

bool streamed_request::resendable() const {
    return streamed_on_ && streamed_on_->resendable();
}

// A piece of the body the stream copies into DATA frames before the client's next one.
asio::awaitable<upstream_error> streamed_request::offer(h2_connection& c, h2_stream& s, std::string_view piece) {
    s.pending = piece;
    c.resume(s);
    const bool taken = co_await wait_taken(s);
    s.pending = {};
    if (taken) co_return upstream_error{};
    if (s.refused) co_return upstream_error{failure::closed, true};
    co_return s.closed ? upstream_error{failure::write} : upstream_error{failure::timeout};
}

// An HTTP/1 client's body: each piece offered to the stream, consumed from the client once
// nghttp2 took it into frames (the upstream's window is the backpressure), then the end. An
// upstream that answered wholly (or answered and reset the stream) before the body ended stops
// the pump: its answer is the call's (the rest of the body stays unread).
asio::awaitable<upstream_error> streamed_request::pump_h2(h2_connection& c, h2_stream& s) {
    for (;;) {
        if (s.final_head && (s.ended || s.closed)) co_return upstream_error{};
        auto piece = d_->body_ready();
        if (!piece.empty()) {
            s.pending = piece;
            c.resume(s);
            const bool taken = co_await wait_taken(s);
            d_->consume_body(piece.size() - s.pending.size());
            s.pending = {};
            if (taken) continue;
            if (s.refused) co_return upstream_error{failure::closed, true};  // sent again from its copy
            if (s.final_head) co_return upstream_error{};                     // answered early
            co_return s.closed ? upstream_error{failure::write} : upstream_error{failure::timeout};
        }
        if (d_->body_done()) break;
        auto st = co_await d_->read_body();
        if (st != http::body_status::ok) co_return from_body(st);
    }
    s.set_trailers(d_->request_trailers());
    s.body_end = true;
    c.resume(s);
    body_sent_ = true;
    co_return upstream_error{};
}

// Until nghttp2 copied the offered piece into frames, the stream closed, or the wait's timeout.
asio::awaitable<bool> streamed_request::wait_taken(h2_stream& s) {
    const auto until = net::clock::now() + timeout_;
    while (!s.pending.empty() && !s.closed && net::clock::now() < until) {
        s.pump_wake.expires_at(until);
        ++s.pump_waiters;
        co_await s.pump_wake.async_wait(asio::as_tuple(asio::use_awaitable));
        --s.pump_waiters;
    }
    co_return s.pending.empty();
}

}  // namespace gatehouse::upstream
