// Replies gatehouse makes itself, as a response head and a body for the downstream stream to
// write: errors in one stable JSON shape {"error": "...", "status": N, "request_id": "..."}
// (gRPC's Trailers-Only on a gRPC request), `respond`, `redirect`, the HTTPS redirect of a
// redirect-only listener, OPTIONS *, and a middleware's whole response (a cache hit).
#include <charconv>

#include "grpc/message.hpp"
#include "grpc/status.hpp"
#include "http/exchange.hpp"
#include "net/listener_state.hpp"
#include "util/json_escape.hpp"
#include "util/text.hpp"

namespace gatehouse::http {

void exchange::reply_start(int s) {
    reply_status_ = s;
    status = s;
    reply_fields_.clear();
}

void exchange::reply_chain_fields() {
    for (auto& [k, v] : medit.add)
        if (middleware::valid_header_value(v)) reply_field(k, v);
}

// The head, and the body unless the status has none (1xx, 204, 304: no Content-Length either,
// RFC 9110 §8.6).
boost::asio::awaitable<bool> exchange::reply_send(std::string_view body, bool has_body) {
    const bool bodiless = reply_status_ < 200 || reply_status_ == 204 || reply_status_ == 304;
    response_head head;
    head.status = reply_status_;
    head.fields = reply_fields_;
    if (!bodiless && has_body) head.content_length = body.size();
    if (bodiless || !has_body) body = {};
    co_return co_await d_.send_head(head, body, true);
}

void exchange::run_reply_chain(int s, std::size_t body_size) {
    if (!has_chain()) return;
    std::vector<field> seen(reply_fields_);
    char length[24];
    const auto [end, ec] = std::to_chars(length, length + sizeof length, body_size);
    seen.push_back({"Content-Length", std::string_view(length, static_cast<std::size_t>(end - length))});
    run_response_chain(s, seen);
    reply_chain_fields();
}

bool exchange::filtered_reply(std::string_view in, bool last, std::string_view& out) {
    out = in;
    if (!medit.body || is_head_) return true;
    filter_buf_.clear();
    if (!medit.body->filter(in, last, filter_buf_)) {
        d_.reset();  // the client never takes a cut answer for a whole one
        return false;
    }
    out = filter_buf_;
    return true;
}

void exchange::error_body(int s, std::string_view message) {
    reply_body_.clear();
    reply_body_ += "{\"error\":\"";
    util::append_json_escaped(reply_body_, message);
    reply_body_ += "\",\"status\":";
    reply_body_ += std::to_string(s);
    reply_body_ += ",\"request_id\":\"";
    util::append_json_escaped(reply_body_, request_id);
    reply_body_ += "\"}\n";
}

// grpc's doc/http-grpc-status-mapping.md and PROTOCOL-HTTP2.md: a gRPC client reads the status
// from grpc-status, so the answer is a 200 whose head ends the stream (Trailers-Only), in the
// content-type of the request's protocol (a gRPC-Web client reads the same fields from the head).
void exchange::grpc_error_head(int s, std::string_view message) {
    reply_start(200);
    reply_field("Content-Type", grpc::reply_content_type(grpc_protocol));
    const auto code = grpc::from_http_status(s);
    grpc_status = static_cast<int>(code);
    reply_field("grpc-status", grpc::status_field(code));
    reply_scratch_.clear();
    grpc::append_message_encoded(reply_scratch_, message);
    reply_field("grpc-message", reply_scratch_);
}

boost::asio::awaitable<bool> exchange::send_error(int s, std::string_view message, extra_fields extra) {
    if (grpc_protocol != grpc::protocol::none) {
        grpc_error_head(s, message);
        if (!request_id.empty()) reply_field("X-Request-Id", request_id);
        for (auto& [k, v] : extra) reply_field(k, v);
        co_return co_await reply_send({}, true);  // Content-Length: 0 frames it for HTTP/1.1
    }
    reply_start(s);
    const bool no_content = s == 204 || s == 304;  // a CORS preflight answer, for instance
    if (!no_content) {
        error_body(s, message);
        reply_field("Content-Type", "application/json");
    }
    if (!request_id.empty()) reply_field("X-Request-Id", request_id);
    for (auto& [k, v] : extra) reply_field(k, v);
    co_return co_await reply_send(reply_body_, !no_content);
}

// A response the config spells out: routes[].respond, and routes[].fallback.respond.
boost::asio::awaitable<bool> exchange::send_respond(const config::respond_config& rc) {
    reply_start(rc.status);
    reply_field("Content-Type", rc.content_type);
    reply_field("X-Request-Id", request_id);
    for (auto& [k, v] : rc.headers) reply_field(k, v);
    if (has_chain()) {
        run_response_chain(rc.status);
        reply_chain_fields();
    }
    co_return co_await reply_send(rc.body, true);
}

boost::asio::awaitable<bool> exchange::send_redirect(const config::redirect_config& rc) {
    auto& location = reply_scratch_;
    location = rc.scheme.value_or("http");
    location += "://";
    if (rc.host) {
        location += *rc.host;
    } else {
        // The host was validated by the codec: no CR, LF, '/', '@' or spaces. Its port is kept
        // only when neither scheme nor port is being changed.
        location += rc.scheme || rc.port ? util::host_without_port(req.authority) : req.authority;
    }
    if (rc.port) location += ":" + std::to_string(*rc.port);
    location += rc.path ? *rc.path : path;
    if (!rc.strip_query && req.has_query) {
        location += '?';
        location += req.query;
    }
    reply_start(rc.status);
    reply_field("Location", location);
    reply_field("X-Request-Id", request_id);
    co_return co_await reply_send({}, true);
}

// A listener whose only job is sending clients to HTTPS (the host without its port).
boost::asio::awaitable<bool> exchange::send_https_redirect() {
    const auto& cfg = listener_.cfg;
    auto host = util::host_without_port(req.authority);
    if (host.empty()) co_return co_await send_error(400, "missing Host header");
    auto& location = reply_scratch_;
    location = "https://";
    location += host;
    if (*cfg.https_redirect_port != 443) location += ":" + std::to_string(*cfg.https_redirect_port);
    location += path;
    if (req.has_query) {
        location += '?';
        location += req.query;
    }
    reply_start(cfg.https_redirect_status);
    reply_field("Location", location);
    reply_field("X-Request-Id", request_id);
    co_return co_await reply_send({}, true);
}

boost::asio::awaitable<bool> exchange::send_options_asterisk() {
    reply_start(200);
    reply_field("Allow", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    co_return co_await reply_send({}, true);
}

// A middleware's whole response (middleware::full_response): its fields, what the response
// chain added or removed; the codec adds the length.
boost::asio::awaitable<bool> exchange::send_full(const middleware::full_response& r) {
    reply_start(r.status);
    for (auto& [n, v] : r.fields) {
        if (!medit.remove.empty() && medit.removes(n)) continue;
        reply_field(n, v);
    }
    reply_chain_fields();
    co_return co_await reply_send(r.body, true);
}

}  // namespace gatehouse::http
