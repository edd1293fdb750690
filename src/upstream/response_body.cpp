// The upstream response's body, piece by piece (response_body.hpp).
#include "upstream/response_body.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http1/body_decoder.hpp"
#include "observability/log_limit.hpp"
#include "upstream/h2_connection.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using http1::body_framing;

response_body::response_body() = default;
response_body::~response_body() = default;

bool response_body::start(call& c, std::string& decoded, net::clock::duration idle, std::size_t max_trailer_fields,
                          std::size_t max_trailer_bytes) {
    c_ = &c;
    decoded_ = &decoded;
    idle_ = idle;
    const auto& h = c.head();
    remaining_ = h.framing == body_framing::content_length ? h.content_length : 0;
    ended_ = h.framing == body_framing::none;
    given_ = 0;
    if ((s_ = c.stream())) return true;
    auto& uc = c.conn();
    const auto head = uc.buf.data().substr(0, c.head_len());
    uc.buf.consume(c.head_len());  // moves no bytes: the head's views stay valid
    if (h.framing != body_framing::chunked) return true;
    // Beast decodes the chunked body; it must see the head first.
    dec_ = std::make_unique<http1::body_decoder<false>>();
    dec_->header_limit(static_cast<std::uint32_t>(c.head_len() + 1));
    dec_->body_limit(boost::none);
    dec_->sink = decoded_;
    dec_->trailer_limits(max_trailer_fields, max_trailer_bytes);
    boost::beast::error_code ec;
    dec_->feed(head, ec);
    if (ec || !dec_->is_header_done()) return false;
    dec_->eager(true);
    return true;
}

std::optional<std::uint64_t> response_body::length() const {
    const auto& h = c_->head();
    if (h.framing == body_framing::content_length ||
        (h.framing == body_framing::none && h.has_content_length && h.status >= 200 && h.status != 204))
        return h.content_length;
    return std::nullopt;
}

bool response_body::bodiless() const { return c_->head().framing == body_framing::none; }

std::optional<std::string_view> response_body::whole(std::uint64_t limit) const {
    const auto& h = c_->head();
    if (h.framing == body_framing::none) return std::string_view{};
    if (s_) {
        // (not with trailers: the whole-response write has no place for them)
        if (!s_->ended || s_->trailers.size() != 0 || s_->body.size() > limit || (h.has_content_length && s_->body.size() != h.content_length))
            return std::nullopt;
        return std::string_view(s_->body);
    }
    auto& buf = c_->conn().buf;
    if (h.framing != body_framing::content_length || h.content_length > std::min<std::uint64_t>(limit, buf.size())) return std::nullopt;
    return buf.data().substr(0, static_cast<std::size_t>(h.content_length));
}

void response_body::finish_whole() {
    if (s_) {
        ended_ = true;
        finish();
        return;
    }
    auto& buf = c_->conn().buf;
    if (c_->head().framing == body_framing::content_length) buf.consume(static_cast<std::size_t>(c_->head().content_length));
    remaining_ = 0;
    ended_ = true;
    finish();
}

std::pair<char*, std::size_t> response_body::room() {
    auto& uc = c_->conn();
    uc.buf.consume(given_);
    given_ = 0;
    // A sized body asks for 64 KiB of room whatever is left of it: the buffer grows once, and
    // later responses on this connection then arrive whole with their head in one read.
    const bool sized = c_->head().framing == body_framing::content_length;
    auto [ptr, room] = uc.buf.prepare(sized ? 65536 : 16384);
    uc.timer.arm(idle_);
    return {ptr, sized ? static_cast<std::size_t>(std::min<std::uint64_t>(room, remaining_)) : room};
}

response_body::state response_body::read_done(boost::system::error_code ec, std::size_t n) {
    if (ec) {
        if (!dec_ && c_->head().framing == body_framing::until_close && ec == asio::error::eof) {
            ended_ = true;  // the end of a close-delimited body
            return state::ok;
        }
        return state::cut;  // truncated: the caller must not fabricate an end
    }
    c_->conn().buf.commit(n);
    return state::ok;
}

response_body::state response_body::take(piece& p) {
    if (s_ && deadline_ != net::clock::time_point::max() && net::clock::now() >= deadline_) return state::expired;  // a flood too
    if (s_) return take_stream(p);
    auto& uc = c_->conn();
    uc.buf.consume(given_);
    given_ = 0;
    p = {};
    if (dec_) {
        decoded_->clear();
        boost::beast::error_code ec;
        std::size_t used = uc.buf.empty() ? 0 : dec_->feed(uc.buf.data(), ec);
        uc.buf.consume(used);
        if (ec && ec != boost::beast::http::error::need_more) {
            observability::warn_limited(c_->def().name, "upstream {}: malformed chunked response body", c_->def().name);
            return state::malformed;
        }
        p.last = ended_ = dec_->is_done();
        p.data = *decoded_;
        return p.last || !p.data.empty() ? state::ok : state::need_more;
    }
    if (c_->head().framing == body_framing::content_length) {
        if (remaining_ != 0 && uc.buf.empty()) return state::need_more;
        given_ = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, uc.buf.size()));
        remaining_ -= given_;
        p.data = uc.buf.data().substr(0, given_);
        p.last = ended_ = remaining_ == 0;
        return state::ok;
    }
    // Close-delimited.
    if (!ended_ && uc.buf.empty()) return state::need_more;
    given_ = uc.buf.size();
    p.data = uc.buf.data();
    p.last = ended_;
    return state::ok;
}

// The stream's body: what arrived since the last take, swapped out whole (the reader appends to
// the stream's string meanwhile); its window is credited when the relay comes back for more.
response_body::state response_body::take_stream(piece& p) {
    p = {};
    if (s_->handed != 0) {
        s_->conn->consume(*s_, s_->handed);
        s_->handed = 0;
    }
    if (!s_->body.empty()) {
        taken_.clear();
        std::swap(taken_, s_->body);
        given_ = s_->handed = taken_.size();
        if (c_->head().framing == body_framing::content_length) {
            if (given_ > remaining_) return state::malformed;  // more than its Content-Length said
            remaining_ -= given_;
        }
        p.data = taken_;
    }
    if (s_->ended && s_->body.empty()) {
        if (c_->head().framing == body_framing::content_length && remaining_ != 0) return state::cut;
        p.last = ended_ = true;
        return state::ok;
    }
    if (!p.data.empty()) return state::ok;
    return s_->closed ? state::cut : state::need_more;
}

asio::awaitable<response_body::state> response_body::wait_more() {
    auto& s = *s_;
    if (s.closed || s.ended || !s.body.empty()) co_return state::ok;
    const auto now = net::clock::now();
    if (now >= deadline_) co_return state::expired;
    const auto until = deadline_ - now > idle_ ? now + idle_ : deadline_;
    s.wake.expires_at(until);
    ++s.waiters;
    co_await s.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    --s.waiters;
    if (s.closed || s.ended || !s.body.empty()) co_return state::ok;
    if (net::clock::now() < until) co_return state::ok;
    co_return until == deadline_ ? state::expired : state::cut;
}

http::field_list response_body::trailers() {
    if (s_) {
        if (!ended_) return {};
        const auto& t = s_->trailers.view();
        return http::field_list(std::span<const http1::field_view>(t));
    }
    if (!dec_ || !ended_) return {};
    trailers_ = dec_->trailer_fields();
    return http::field_list(std::span<const http1::field_view>(trailers_));
}

bool response_body::buffered() const { return ended_ || (s_ ? !s_->body.empty() : !c_->conn().buf.empty()); }

void response_body::finish() {
    if (s_) {
        given_ = 0;
        c_->finish(ended_);  // (abandon credits what was handed out and not yet credited)
        return;
    }
    auto& uc = c_->conn();
    uc.buf.consume(given_);
    given_ = 0;
    const auto& h = c_->head();
    c_->finish(ended_ && h.framing != body_framing::until_close && h.keep_alive && uc.buf.empty());
}

}  // namespace gatehouse::upstream
