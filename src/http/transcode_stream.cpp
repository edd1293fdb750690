// routes[].grpc_transcode: the gRPC call (transcode_reply.cpp prepares it) is made on the
// exchange's own upstream::call, as a proxied request's is, with the buffered request (so the
// breaker, limits, retries and timeouts apply), and its answer is read as it comes
// (upstream/response_body.cpp). A unary method's answer is taken whole (up to the route's
// max_body) and answered as one JSON document (send_transcoded). A server-streaming method's is
// relayed as it comes: each gRPC message an element of one JSON array, the answer's head with
// the first one (chunked on HTTP/1.1, DATA frames on HTTP/2). The upstream's stream is credited
// only as each piece was taken after the last one went to the client, so a slow client holds the
// upstream back: what gatehouse holds is a piece and at most one unfinished message. An error
// before the head went is the JSON error answer a unary call gets. After it, the status (200) is
// on its way: the error is the array's last element, {"error": {code, message, details}}
// (grpc-gateway ends a failed stream with such an "error" element), and the array is closed.
// The route's timeout bounds the whole call.
#include "grpc/status.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "net/hpack_policy.hpp"
#include "net/listener_state.hpp"
#include "transcode/transcode_config.hpp"
#include "upstream/h2_connection.hpp"
#include "upstream/h2_stream.hpp"
#include "upstream/response_body.hpp"
#include "upstream/subrequest.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;
using upstream::response_body;

namespace {

std::string_view value_of(field_list fields, std::string_view name) {
    for (const auto& f : fields)
        if (iequals(f.name, name)) return f.value;
    return {};
}

constexpr int code_of(grpc::status_code c) { return static_cast<int>(c); }

// The translated call's request: over HTTP/1.1 (an h2 upstream that fell back) its text as it
// is; over HTTP/2 a header list made of the text's parts (a traced call's span id is written into
// the text: its traceparent part has it), the body from after the head.
class grpc_request_sender final : public upstream::request_sender {
public:
    // `gone`: the client left (no try starts after that, a retry's included).
    grpc_request_sender(const std::string& text, const grpc_request_parts& parts, bool tls, const bool& gone)
        : text_(text), parts_(parts), tls_(tls), gone_(gone), as_text_(text, tls) {}
    asio::awaitable<upstream::upstream_error> send(upstream::upstream_connection& uc, net::clock::duration timeout) override {
        if (gone_) return left();
        return as_text_.send(uc, timeout);
    }
    asio::awaitable<upstream::upstream_error> send_stream(upstream::h2_connection& c, const std::shared_ptr<upstream::h2_stream>& s,
                                                          net::clock::duration) override {
        if (gone_) co_return upstream::upstream_error{upstream::failure::client_gone};
        co_return submit(c, s);
    }

private:
    upstream::upstream_error submit(upstream::h2_connection& c, const std::shared_ptr<upstream::h2_stream>& s) const {
        const auto part = [this](grpc_request_parts::span p) { return std::string_view(text_).substr(p.at, p.size); };
        const auto nv = [](std::string_view n, std::string_view v) {
            return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                              reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), net::index_flag(n)};
        };
        std::vector<nghttp2_nv> list{nv(":method", "POST"),
                                     nv(":scheme", tls_ ? "https" : "http"),
                                     nv(":authority", part(parts_.authority)),
                                     nv(":path", part(parts_.path)),
                                     nv("content-type", "application/grpc"),
                                     nv("te", "trailers"),
                                     nv("x-request-id", part(parts_.request_id)),
                                     nv("content-length", part(parts_.length))};
        if (parts_.traceparent.size != 0) list.push_back(nv("traceparent", part(parts_.traceparent)));
        s->kept.assign(text_, parts_.body, std::string::npos);
        s->pending = s->kept;
        s->body_end = true;
        if (!c.submit(s, list, !s->kept.empty())) return upstream::upstream_error{upstream::failure::closed, true};
        return {};
    }

    static asio::awaitable<upstream::upstream_error> left() { co_return upstream::upstream_error{upstream::failure::client_gone}; }

    const std::string& text_;
    const grpc_request_parts& parts_;
    bool tls_;
    const bool& gone_;
    upstream::buffered_sender as_text_;
};

// More of the answer's body. An HTTP/1.1 client that leaves while the call waits on the
// upstream is noticed then (not at the next write): `gone`, and the caller ends the call, which
// resets the upstream's stream at once.
asio::awaitable<response_body::state> wait_for_more(response_body& body, downstream& client, upstream::h2_stream& s, bool& gone) {
    client.watch_gone([&gone, &s] {
        gone = true;
        s.wake.cancel();
    });
    const auto st = co_await body.wait_more();
    client.unwatch_gone();
    co_return st;
}

}  // namespace

asio::awaitable<bool> exchange::transcode_call(upstream::subrequest sr) {
    const auto& r = *route;
    transcode_gone_ = false;
    transcode_json_.clear();
    call_.emplace(host().cluster_for(*snap, r.upstream_index), sr.options, up_head_);
    grpc_request_sender sender(sr.request, transcode_parts_, call_->def().tls_ctx != nullptr, transcode_gone_);
    auto err = call_->admit();
    if (!err) {
        // An HTTP/1.1 client that leaves while the call waits for the answer's head: the
        // upstream's stream is reset at once (its wait ends), the request is the client's 499.
        d_.watch_gone([this] {
            transcode_gone_ = true;
            if (auto* s = call_->stream(); s && s->conn) s->conn->abandon(*s);
        });
        err = co_await call_->tries(sender);
        d_.unwatch_gone();
    }
    note_call();
    if (transcode_gone_) co_return transcoded_client_left(false);
    if (err) {
        call_->drop_connection();
        end_call();
        co_return co_await send_call_failure(err, false);
    }
    const auto& h = call_->head();
    upstream_status = h.status;
    const auto code_text = value_of(h.fields, "grpc-status");
    bool sent = false;
    if (h.status != 200 || call_->stream() == nullptr) {
        sent = co_await send_not_grpc(h.status);
    } else if (!code_text.empty() && transcode_binding->server_streaming) {  // Trailers-Only: no message
        if (note_grpc_status(code_text) == 0) {
            transcode_json_ = "[]";
            bool head_sent = false;
            sent = co_await send_transcoded_piece(head_sent, true);
            if (sent && medit.tap) medit.tap->end();
        } else {
            const auto f = grpc_failure_of(value_of(h.fields, "grpc-message"), value_of(h.fields, "grpc-status-details-bin"));
            sent = co_await send_transcode_error(grpc::to_http_status(grpc_status), grpc_status, f.message, f.details);
        }
    } else {
        const auto& limits = snap->config.limits;
        response_body body;
        body.start(*call_, relay_buf_, r.config.upstream_idle_timeout.value_or(limits.upstream_idle_timeout), limits.max_headers,
                   limits.max_header_bytes);
        body.bound(start + sr.options.timeout);
        if (!transcode_binding->server_streaming) co_return co_await relay_unary(body, sr.max_body);  // (they end the call)
        co_return co_await relay_transcoded(body, sr.max_body);
    }
    end_call();
    co_return sent;
}

// A unary method's answer: its body taken whole (at most `max` bytes), then its one message as
// the JSON answer, or the status in its trailers (or a Trailers-Only head) as the error answer.
asio::awaitable<bool> exchange::relay_unary(response_body& body, std::size_t max) {
    std::string message;
    for (;;) {
        response_body::piece p;
        auto st = body.take(p);
        if (st == response_body::state::need_more) {
            st = co_await wait_for_more(body, d_, *call_->stream(), transcode_gone_);
            if (transcode_gone_) co_return transcoded_client_left(false);
            if (st == response_body::state::ok) continue;
        }
        if (st == response_body::state::expired)
            co_return co_await end_transcoded(false, 504, code_of(grpc::status_code::deadline_exceeded), "the gRPC call timed out");
        if (st != response_body::state::ok)
            co_return co_await end_transcoded(false, 502, code_of(grpc::status_code::unavailable), "the gRPC call failed: the stream was cut");
        if (p.data.size() > max - message.size())
            co_return co_await end_transcoded(false, 502, code_of(grpc::status_code::unavailable), "the gRPC call failed: the answer is too large");
        message.append(p.data);
        if (p.last) break;
    }
    const auto t = body.trailers();
    const auto& where = value_of(t, "grpc-status").empty() ? call_->head().fields : t;
    const auto code_text = value_of(where, "grpc-status");
    if (code_text.empty()) co_return co_await end_transcoded(false, 502, code_of(grpc::status_code::unknown), "the gRPC answer has no grpc-status");
    const int code = note_grpc_status(code_text);
    call_->grpc_ended(code);
    grpc_failure f;
    if (code != 0) f = grpc_failure_of(value_of(where, "grpc-message"), value_of(where, "grpc-status-details-bin"));
    // The upstream's part is over (what the answer needs is copied): its stream and slot go
    // before the client is written to.
    body.finish();
    end_call();
    if (code != 0) co_return co_await send_transcode_error(grpc::to_http_status(code), code, f.message, f.details);
    co_return co_await send_transcoded(message);
}

// The answer's body, message by message.
asio::awaitable<bool> exchange::relay_transcoded(response_body& body, std::size_t max_message) {
    const auto& cfg = *route->config.grpc_transcode;
    transcode::response_stream stream(*cfg.loaded, *transcode_binding, cfg.print, max_message);
    std::string error;
    bool head_sent = false;
    for (;;) {
        response_body::piece p;
        auto st = body.take(p);
        if (st == response_body::state::need_more) {
            st = co_await wait_for_more(body, d_, *call_->stream(), transcode_gone_);
            if (transcode_gone_) break;
            if (st == response_body::state::ok) continue;
        }
        transcode_json_.clear();
        if (st == response_body::state::expired)
            co_return co_await end_transcoded(head_sent, 504, code_of(grpc::status_code::deadline_exceeded), "the gRPC call timed out");
        if (st != response_body::state::ok)
            co_return co_await end_transcoded(head_sent, 502, code_of(grpc::status_code::unavailable), "the gRPC stream was cut");
        if (!stream.feed(p.data, transcode_json_, error)) {
            error.insert(0, "the gRPC answer does not decode: ");
            co_return co_await end_transcoded(head_sent, 502, code_of(grpc::status_code::internal), error);
        }
        if (p.last) co_return co_await end_transcoded_stream(body, head_sent, stream);
        if (transcode_json_.empty()) continue;
        const bool ok = co_await send_transcoded_piece(head_sent, false);
        if (!ok) break;
    }
    co_return transcoded_client_left(head_sent);
}

// The client left: nginx's 499 when it had no answer yet; the upstream's stream is reset.
// (false: the client got no whole answer)
bool exchange::transcoded_client_left(bool head_sent) {
    error_source = "client";
    if (!head_sent) {
        status = 499;
        if (listener_.stats) listener_.stats->at(w_.id()).aborts_request.add();
    }
    end_call();
    return false;
}

// The stream ended: the status in its trailers closes the array, or is its last element.
asio::awaitable<bool> exchange::end_transcoded_stream(response_body& body, bool head_sent, const transcode::response_stream& stream) {
    const auto internal = code_of(grpc::status_code::internal);
    if (!stream.at_boundary()) co_return co_await end_transcoded(head_sent, 502, internal, "a gRPC message is cut short");
    const auto t = body.trailers();
    const auto code_text = value_of(t, "grpc-status");
    if (code_text.empty())
        co_return co_await end_transcoded(head_sent, 502, code_of(grpc::status_code::unknown), "the gRPC answer has no grpc-status");
    const int code = note_grpc_status(code_text);
    call_->grpc_ended(code);
    if (code != 0) {
        const auto f = grpc_failure_of(value_of(t, "grpc-message"), value_of(t, "grpc-status-details-bin"));
        co_return co_await end_transcoded(head_sent, grpc::to_http_status(code), code, f.message, f.details);
    }
    transcode_json_ += stream.messages() == 0 ? "[]" : "]";
    const bool ok = co_await send_transcoded_piece(head_sent, true);
    if (ok && medit.tap) medit.tap->end();
    body.finish();
    end_call();
    co_return ok;
}

// A failed call: gatehouse's JSON error answer while no message was decoded, else the array's
// last element (a cache's tap never sees the end of such a body: it stores nothing).
asio::awaitable<bool> exchange::end_transcoded(bool head_sent, int http_status, int code, std::string_view message,
                                               std::string_view details) {
    if (error_source.empty()) error_source = "upstream_failure";
    // Messages decoded from the same piece as the failure make it the array's last element as
    // well, so that how the upstream's bytes were cut never changes the answer's form.
    if (!head_sent && transcode_json_.empty()) {
        const bool sent = co_await send_transcode_error(http_status, code, message, details);
        end_call();
        co_return sent;
    }
    if (grpc_status < 0) grpc_status = code;
    const auto& cfg = *route->config.grpc_transcode;
    transcode_json_ += ",{\"error\":";
    transcode_json_ += transcode::error_body(*cfg.loaded, code, message, details, cfg.print);
    transcode_json_ += "}]";
    const bool ok = co_await send_transcoded_piece(head_sent, true);
    end_call();  // (the upstream's stream is reset when it has not ended)
    co_return ok;
}

// transcode_json_ to the client: with the answer's head the first time (with its length when it
// is the whole answer).
asio::awaitable<bool> exchange::send_transcoded_piece(bool& head_sent, bool end) {
    std::string_view out;
    if (head_sent) {
        if (medit.tap) medit.tap->data(transcode_json_);
        if (!filtered_reply(transcode_json_, end, out)) co_return false;
        co_return co_await d_.send_data(out, end);
    }
    head_sent = true;
    transcoded_head();  // (the response chain runs here: a cache's tap comes with it)
    if (medit.tap) medit.tap->data(transcode_json_);
    if (!filtered_reply(transcode_json_, end, out)) co_return false;
    response_head head;
    head.status = reply_status_;
    head.fields = reply_fields_;
    if (end) head.content_length = out.size();
    co_return co_await d_.send_head(head, out, end);
}

}  // namespace gatehouse::http
