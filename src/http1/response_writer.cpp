// The HTTP/1.1 connection as the downstream stream of its current request: the one writer of
// the responses the exchange makes (a head in HTTP/1.1 framing, held back to go out with the
// body in one write) and of interim responses. Relayed upstream responses keep their own
// writer (forwarded_heads.cpp), which copies the upstream's field lines as they arrived.
#include "http1/client_connection.hpp"
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
void append_head(std::string& out, int status, http::field_list fields) {
    append_status_line(out, status);
    out += "\r\n"sv;
    for (auto& f : fields) {
        out += f.name;
        out += ": "sv;
        out += f.value;
        out += "\r\n"sv;
    }
}
}  // namespace

asio::awaitable<bool> client_connection::send_interim(const http::response_head& head) {
    out_.clear();
    append_head(out_, head.status, head.fields);
    out_ += "\r\n"sv;
    co_return co_await write_client(out_);
}

// Content-Length when the exchange knows the body's length (a reply gatehouse makes always
// does), and the Connection field the request's persistence needs (RFC 9112 §9.3).
asio::awaitable<bool> client_connection::send_head(const http::response_head& head, bool end_stream) {
    out_.clear();
    append_head(out_, head.status, head.fields);
    if (head.content_length) {
        out_ += "Content-Length: "sv;
        out_ += std::to_string(*head.content_length);
        out_ += "\r\n"sv;
    }
    out_ += head_end(persistence_for(must_close_, req_.version));
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
