// The proxied request's sender (streamed_request.hpp).
#include "upstream/streamed_request.hpp"

#include <charconv>

#include "http1/field_copier.hpp"
#include "http1/request_writer.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using namespace std::string_view_literals;

void streamed_request::start(const http::forwarded_request& f, bool h2, bool tls) {
    head_.clear();
    d_ = &client_;
    streamed_on_.reset();
    h2_ = h2;
    if (h2) start_h2(f, tls);
    else http1::append_request_head(head_, f);
    has_body_ = f.has_body;
    chunked_ = f.has_body && !f.content_length;
    length_ = f.content_length.value_or(0);
    replayable_ = false;
    body_sent_ = !has_body_;
    holding_ = held_whole_ = false;
    held_ = {};
}

void streamed_request::add_field(std::string_view name, std::string_view value) {
    if (h2_) {
        add_h2(name, value);
        return;
    }
    std::string line;
    http1::append_field(line, name, value);
    head_.insert(head_.size() - 2, line);
}

void streamed_request::hold(std::string_view prefix, bool whole) {
    holding_ = true;
    held_ = prefix;
    held_whole_ = whole;
}

void streamed_request::keep_body_up_to(std::uint64_t limit) {
    if (holding_) {
        replayable_ = !has_body_ || (!chunked_ && held_whole_ && length_ <= limit && held_.size() == length_);
        return;
    }
    replayable_ = !has_body_ || (!chunked_ && length_ <= limit && d_->body_done() && d_->body_ready().size() == length_);
}

void streamed_request::release() {
    if (!replayable_ || !has_body_) return;
    if (!holding_) d_->consume_body(d_->body_ready().size());
    replayable_ = false;
}

void streamed_request::release_memory() {
    std::string().swap(head_);
    std::string().swap(frame_);
}

asio::awaitable<upstream_error> streamed_request::write(upstream_connection& uc, std::string_view a, std::string_view b) {
    uc.timer.arm(timeout_);
    auto [ec, n] = co_await uc.io.write(a, b);
    co_return ec ? upstream_error{failure::write} : upstream_error{};
}

// The head with whatever of a sized body is here already (one write for small requests), then
// the rest of the body as it comes.
asio::awaitable<upstream_error> streamed_request::send(upstream_connection& uc, net::clock::duration timeout) {
    timeout_ = timeout;
    // A refused HTTP/2 stream's resend that lands on an endpoint found to speak HTTP/1.1 only
    // (protocol_fallback): its first bytes are in the stream's copy, not here. Not sent.
    if (resendable()) co_return upstream_error{failure::write};
    const bool stale = uc.reused;
    if (holding_) co_return co_await send_held(uc, stale);
    std::string_view early = has_body_ && !chunked_ ? d_->body_ready() : std::string_view{};
    uc.timer.arm(timeout_);
    auto [ec, n] = co_await uc.io.write(http1_head(), early);
    if (ec) co_return upstream_error{failure::write, stale};
    if (replayable_) {
        body_sent_ = true;  // it stays where it is until release()
        co_return upstream_error{};
    }
    if (!early.empty()) d_->consume_body(early.size());
    if (body_sent_) co_return upstream_error{};
    co_return co_await send_rest(uc);
}

// What a failed wait for the client's body means for the call.
upstream_error from_body(http::body_status st) {
    switch (st) {
        case http::body_status::timeout: return upstream_error{failure::client_timeout};
        case http::body_status::too_large: return upstream_error{failure::body_too_large};
        case http::body_status::bad_trailers: return upstream_error{failure::trailers};
        case http::body_status::bad: return upstream_error{failure::bad_body};
        default: return upstream_error{failure::client_gone};  // the lease closes the upstream side
    }
}


// A held body (hold()): the head with the held bytes (one chunk when the body goes chunked),
// then what the downstream still has, if anything.
asio::awaitable<upstream_error> streamed_request::send_held(upstream_connection& uc, bool stale) {
    std::string_view first = held_;
    if (chunked_ && !held_.empty()) {
        frame_.clear();
        char hex[20];
        auto [end, ec] = std::to_chars(hex, hex + sizeof hex, held_.size(), 16);
        frame_.append(hex, end).append("\r\n"sv).append(held_).append("\r\n"sv);
        first = frame_;
    }
    uc.timer.arm(timeout_);
    auto [ec, n] = co_await uc.io.write(http1_head(), first);
    if (ec) co_return upstream_error{failure::write, stale};
    if (replayable_ || !has_body_) {
        body_sent_ = true;
        co_return upstream_error{};
    }
    co_return co_await send_rest(uc);
}

asio::awaitable<upstream_error> streamed_request::send_rest(upstream_connection& uc) {
    for (;;) {
        auto piece = d_->body_ready();
        if (!piece.empty()) {
            upstream_error err;
            if (chunked_) {
                frame_.clear();
                char hex[20];
                auto [end, ec] = std::to_chars(hex, hex + sizeof hex, piece.size(), 16);
                frame_.append(hex, end);
                frame_ += "\r\n"sv;
                frame_.append(piece);
                frame_ += "\r\n"sv;
                err = co_await write(uc, frame_);
            } else {
                err = co_await write(uc, piece);
            }
            if (err) co_return err;
            d_->consume_body(piece.size());
            continue;
        }
        if (d_->body_done()) break;
        auto st = co_await d_->read_body();
        if (st != http::body_status::ok) co_return from_body(st);
    }
    if (chunked_) {  // the last chunk, with the client's trailers (validated by its codec)
        frame_.assign("0\r\n"sv);
        for (auto& f : d_->request_trailers()) http1::append_field(frame_, f.name, f.value);
        frame_ += "\r\n"sv;
        if (auto err = co_await write(uc, frame_)) co_return err;
    }
    body_sent_ = true;
    co_return upstream_error{};
}

}  // namespace gatehouse::upstream
