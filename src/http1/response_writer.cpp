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
// follows, chunked to an HTTP/1.1 client and close-delimited to an HTTP/1.0 one (must_close_
// then holds). And the Connection field the request's persistence needs (RFC 9112 §9.3).
void client_connection::compose_head(const http::response_head& h, bool end_stream) {
    out_.clear();
    append_head(out_, h);
    if (h.content_length) {
        append_content_length(out_, *h.content_length);
    } else if (!end_stream && req_.version == 11) {
        out_ += "Transfer-Encoding: chunked\r\n"sv;
    }
    out_ += head_end(persistence_for(must_close_, req_.version));
}

void client_connection::compose_interim(const http::response_head& h) {
    out_.clear();
    append_head(out_, h);
    out_ += "\r\n"sv;
}

asio::awaitable<bool> client_connection::send_interim(const http::response_head& head) {
    compose_interim(head);
    co_return co_await write_client(out_);
}

asio::awaitable<bool> client_connection::send_head(const http::response_head& head, bool end_stream) {
    compose_head(head, end_stream);
    if (!end_stream) co_return true;  // with the body's first bytes
    co_return co_await write_client(out_);
}

asio::awaitable<bool> client_connection::send_data(std::string_view data, bool end_stream) {
    if (head_request_) data = {};  // RFC 9110 §9.3.2: the head a GET would have had, no content
    (void)end_stream;              // the head said how the body ends (Content-Length)
    if (out_.empty() && data.empty()) co_return true;
    bool ok = co_await write_client(out_, data);
    out_.clear();
    co_return ok;
}

}  // namespace gatehouse::http1
