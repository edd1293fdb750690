// The request body as the exchange pulls it (http::downstream): a sized body straight out of
// the connection's buffer, a chunked one decoded by Beast into body_out_ (with its trailers,
// validated as header fields are). Nothing more is read from the client until what is in hand
// was consumed, so a slow upstream holds at most one buffer per connection.
#include "http1/body_decoder.hpp"
#include "http1/client_connection.hpp"

namespace gatehouse::http1 {

using http::body_status;

// Before the upstream phase: the body's framing noted (the request head's views are still
// alive), Beast's decoder started on the head for a chunked body. false: Beast refused the head.
bool client_connection::start_body(std::size_t head_len) {
    head_left_ = head_len;
    proxied_ = true;
    sent_continue_ = false;
    body_read_ = 0;
    body_start_ = {};
    body_out_.clear();
    req_trailers_.clear();
    req_decoder_.reset();
    body_error_ = body_status::ok;
    body_left_ = req_.framing == body_framing::content_length ? req_.content_length : 0;
    if (req_.framing != body_framing::chunked) return true;
    const auto& limits = ex_.snap->config.limits;
    req_decoder_ = std::make_unique<body_decoder<true>>();
    req_decoder_->header_limit(static_cast<std::uint32_t>(head_len + 1));
    req_decoder_->body_limit(ex_.route->config.max_body_bytes.value_or(limits.max_body_bytes));
    req_decoder_->sink = &body_out_;
    req_decoder_->trailer_limits(limits.max_headers, limits.max_header_bytes);
    boost::beast::error_code ec;
    req_decoder_->feed(buf_.data().substr(0, head_len), ec);
    if (ec || !req_decoder_->is_header_done()) return false;
    req_decoder_->eager(true);  // from here on, one feed() decodes everything buffered
    return true;
}

void client_connection::drop_head() {
    buf_.consume(head_left_);
    head_left_ = 0;
}

std::string_view client_connection::body_ready() {
    drop_head();
    if (req_decoder_) {
        if (body_out_.empty() && !buf_.empty() && !req_decoder_->is_done() && body_error_ == body_status::ok) decode_body();
        return body_out_;
    }
    return buf_.data().substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, buf_.size())));
}

void client_connection::consume_body(std::size_t n) {
    drop_head();
    if (req_decoder_) {
        body_out_.erase(0, n);
        return;
    }
    buf_.consume(n);
    body_left_ -= n;
    ex_.bytes_in += n;
}

bool client_connection::body_done() const {
    if (req_decoder_) return req_decoder_->is_done() && !req_decoder_->trailer_invalid;
    return body_left_ <= buf_.size() - head_left_;
}

bool client_connection::body_consumed() const {
    if (req_decoder_) return req_decoder_->is_done() && body_out_.empty();
    return body_left_ == 0;
}

http::trailers client_connection::request_trailers() const { return http::trailers(req_trailers_); }

// What is buffered of a chunked body, decoded into body_out_.
body_status client_connection::decode_body() {
    auto& dec = *req_decoder_;
    boost::beast::error_code ec;
    std::size_t used = dec.feed(buf_.data(), ec);
    buf_.consume(used);
    ex_.bytes_in += used;
    if (ec && ec != boost::beast::http::error::need_more) {
        body_error_ = ec == boost::beast::http::error::body_limit ? body_status::too_large
                      : dec.trailer_too_large                     ? body_status::bad_trailers
                                                                  : body_status::bad;
        return body_error_;
    }
    if (dec.is_done()) req_trailers_ = dec.trailer_fields();
    return body_status::ok;
}

asio::awaitable<body_status> client_connection::read_body() {
    drop_head();
    const auto before = body_ready().size();
    for (;;) {
        if (body_error_ != body_status::ok) co_return body_error_;
        if (body_done() || body_ready().size() > before) co_return body_status::ok;
        // The client waits for a go-ahead before it sends the body (RFC 9110 §10.1.1).
        if (req_.expect_continue && !sent_continue_ && req_.version >= 11 && before == 0) {
            sent_continue_ = true;
            if (!co_await write_client("HTTP/1.1 100 Continue\r\n\r\n")) co_return body_status::gone;
        }
        auto st = co_await read_more_body();
        if (st == io_status::timeout) co_return body_status::timeout;
        if (st == io_status::full) co_return body_status::bad;  // a chunk header larger than the buffer
        if (st != io_status::ok) co_return body_status::gone;
        if (req_decoder_ && !req_decoder_->is_done()) decode_body();
    }
}

// More of the request body: limits.body_timeout is the longest pause between two reads, and
// limits.body_min_rate bounds the whole body: it may take body_timeout plus one second per
// body_min_rate bytes received (Apache's mod_reqtimeout), so a trickle that never pauses long
// enough for the idle deadline still ends (HTTP-EDGE-CASES.md: slow POST). (HTTP/1.1 only: no
// gRPC client streams over it, and a client's content-type must not lift it.)
asio::awaitable<io_status> client_connection::read_more_body() {
    const auto& limits = ex_.snap->config.limits;
    auto timeout = limits.body_timeout;
    if (limits.body_min_rate != 0) {
        if (body_start_ == net::clock::time_point{}) body_start_ = net::clock::now();
        auto earned = std::chrono::duration_cast<net::clock::duration>(
            std::chrono::duration<double>(static_cast<double>(body_read_) / static_cast<double>(limits.body_min_rate)));
        auto left = body_start_ + limits.body_timeout + earned - net::clock::now();
        if (left <= net::clock::duration::zero()) co_return io_status::timeout;
        timeout = std::min(timeout, std::chrono::duration_cast<config::duration>(left) + std::chrono::milliseconds(1));
    }
    auto before = buf_.size();
    auto st = co_await read_more(timeout);
    if (buf_.size() > before) body_read_ += buf_.size() - before;
    co_return st;
}

}  // namespace gatehouse::http1
