// The HTTP/1.1 connection as the downstream stream of its current request: the one writer of
// response heads (gatehouse's own replies and relayed upstream responses alike: the exchange
// hands over a neutral response head; the upstream's field lines go out as they arrived when it
// spoke HTTP/1, field_copier) and of interim responses. A head is held back to go out with the
// body's first bytes in one write.
#include <charconv>

#include "http1/client_connection.hpp"
#include "http1/field_copier.hpp"
#include "http1/status_line.hpp"

namespace gatehouse::http1 {

using namespace std::string_view_literals;

void client_connection::note_facts() {
    facts_.peer = peer_text_;
    facts_.trusted_proxy = trusted_peer_;
    facts_.secure = io_.secure() || tls_ctx_ != nullptr;
    facts_.tls_version = tls_version_;
    facts_.client_verified = client_id_.verified;
    facts_.client_subject = client_id_.subject;
    facts_.client_sans = client_id_.sans;
    facts_.client_fingerprint = client_id_.fingerprint;
}

namespace {

// The status line and the head's fields (without the empty line that ends it).
void append_head(std::string& out, const http::response_head& h) {
    out += "HTTP/1.1 "sv;
    char digits[8];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, h.status);
    out.append(digits, end);
    out += ' ';
    out += h.reason.empty() ? reason_phrase(h.status) : h.reason;
    out += "\r\n"sv;
    if (!h.kept) {
        for (auto& f : h.fields) append_field(out, f.name, f.value);
    } else if (const auto* lines = h.fields.records<field_view>()) {
        field_copier fields(out);
        for (auto i : *h.kept) fields.keep(lines[i]);
        fields.flush();
    } else {
        for (auto i : *h.kept) append_field(out, h.fields[i].name, h.fields[i].value);
    }
    for (auto& f : h.added) append_field(out, f.name, f.value);
}

}  // namespace

// The body's framing: Content-Length when the exchange knows the length; else, unless nothing
// follows, chunked to an HTTP/1.1 client and close-delimited to an HTTP/1.0 one. And the
// Connection field the request's persistence needs (RFC 9112 §9.3): a proxied request's
// connection goes on only when its body was read whole.
void client_connection::compose_head(const http::response_head& h, bool end_stream) {
    out_.clear();
    append_head(out_, h);
    chunked_out_ = false;
    if (h.content_length) {
        append_content_length(out_, *h.content_length);
    } else if (!end_stream && req_.version == 11) {
        out_ += "Transfer-Encoding: chunked\r\n"sv;
        chunked_out_ = !head_request_;
    } else if (!end_stream) {
        must_close_ = true;  // close-delimited
    }
    if ((proxied_ && !body_consumed()) || w_.draining()) must_close_ = true;
    out_ += head_end(persistence_for(must_close_, req_.version));
}

void client_connection::compose_interim(const http::response_head& h) {
    out_.clear();
    append_head(out_, h);
    out_ += "\r\n"sv;
}

// Interim answers go on to HTTP/1.1 clients before the final one (RFC 9110 §15.2): 103 Early
// Hints and the like; 100 only to a client that asked and has not had ours. An HTTP/1.0 client
// cannot take them.
asio::awaitable<http::interim_outcome> client_connection::send_interim(const http::response_head& head) {
    const bool pass = req_.version >= 11 && (head.status != 100 || (req_.expect_continue && !sent_continue_));
    if (!pass) co_return http::interim_outcome::dropped;
    compose_interim(head);
    if (!co_await write_client(out_)) co_return http::interim_outcome::gone;
    if (head.status == 100) sent_continue_ = true;
    co_return http::interim_outcome::sent;
}

namespace {

void append_chunk_size(std::string& out, std::size_t n) {
    char buf[20];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
    out.append(buf, p);
    out += "\r\n"sv;
}

}  // namespace

// Body bytes for the client: none for a HEAD (RFC 9110 §9.3.2: the head a GET would have had,
// no content); chunked to an HTTP/1.1 client when the length was not known (each piece a
// chunk, copied into out_; the last chunk with the end).
void client_connection::frame_data(std::string_view& data, bool end_stream) {
    if (head_request_) data = {};
    if (!chunked_out_) return;
    if (!data.empty()) {
        append_chunk_size(out_, data.size());
        out_ += data;
        out_ += "\r\n"sv;
    }
    if (end_stream) out_ += "0\r\n\r\n"sv;
    data = {};
}

// The head and the body's first bytes in one write.
asio::awaitable<bool> client_connection::send_head(const http::response_head& head, std::string_view data, bool end_stream) {
    compose_head(head, end_stream && data.empty());
    frame_data(data, end_stream);
    before_write();
    auto [ec, n] = co_await io_.write(out_, data);
    out_.clear();
    co_return after_write(ec, n);
}

asio::awaitable<bool> client_connection::send_data(std::string_view data, bool end_stream) {
    frame_data(data, end_stream);
    if (out_.empty() && data.empty()) co_return true;
    before_write();
    auto [ec, n] = co_await io_.write(out_, data);
    out_.clear();
    co_return after_write(ec, n);
}

// The last chunk with the trailers; a sized or close-delimited body has nowhere for them.
asio::awaitable<bool> client_connection::send_trailers(const http::trailers& t) {
    if (chunked_out_) {
        out_ += "0\r\n"sv;
        if (const auto* lines = t.records<field_view>()) {
            field_copier fields(out_);
            for (std::size_t i = 0; i < t.size(); ++i) fields.keep(lines[i]);
            fields.flush();
        } else {
            for (auto& f : t) append_field(out_, f.name, f.value);
        }
        out_ += "\r\n"sv;
    }
    if (out_.empty()) co_return true;
    bool ok = co_await write_client(out_);
    out_.clear();
    co_return ok;
}

// The response cannot be completed: the connection closes without a last chunk, and what was
// held back is not sent.
void client_connection::reset() {
    out_.clear();
    must_close_ = true;
    linger_ = false;
}

}  // namespace gatehouse::http1
