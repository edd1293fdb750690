// The upstream's response relayed to the downstream stream: the response chain on its head
// (a middleware may answer instead, or filter and tap the body), then the head and the body
// piece by piece (upstream/response_body.cpp decodes the upstream's framing; the downstream
// frames it for its client), then the trailers. A response that is already whole in the
// upstream's buffer is written from there in one write with its head.
#include <algorithm>

#include "grpc/content_type.hpp"
#include "grpc/frames.hpp"
#include "grpc/status.hpp"
#include "http/exchange.hpp"
#include "upstream/response_body.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;

namespace {
constexpr std::uint64_t k_copy_limit = 8 * 1024;  // larger bodies are written from the upstream's buffer
}

asio::awaitable<bool> exchange::relay() {
    auto& c = *call_;
    const auto& h = c.head();
    upstream_status = h.status;
    if (h.status >= 400) error_source = "upstream";
    run_response_chain(h.status, h.fields);
    const auto& limits = snap->config.limits;
    upstream::response_body body;
    const bool started = body.start(c, relay_buf_, relay_idle_, limits.max_headers, limits.max_header_bytes);
    // A gRPC answer: bounded by the call's limit as a whole; made a gRPC-Web one for such a client
    // (routes[].grpc_web); any other answer passes as it came.
    const bool grpc_answer = grpc_protocol != grpc::protocol::none && grpc::is_grpc_answer(h.fields);
    if (grpc_answer && !h.has_content_length) body.bound(start + call_opts_.timeout);
    if (grpc_web_ && grpc_answer) web_out_.emplace(grpc_protocol == grpc::protocol::web_text);
    if (medit.replace) co_return co_await relay_replacement(body);
    if (!started) co_return co_await send_error(502, "invalid upstream response");
    if (medit.check && !is_head_ && !body.bodiless()) co_return co_await relay_checked(body);
    // (gRPC-Web: only a Trailers-Only answer, all in its head, goes whole)
    auto whole = body.whole(k_copy_limit);
    if (whole && web_out_ && !whole->empty()) whole.reset();
    if (whole) {
        auto out = prepare_whole(body, *whole);
        if (!out.head) {
            body.finish_whole();
            co_return co_await send_error(502, "response body filter failed");
        }
        const bool ok = co_await d_.send_head(*out.head, out.data, true);
        body.finish_whole();  // the response was whole: the connection goes on, whatever the client did
        co_return ok;
    }
    co_return co_await relay_body(body);
}

// The body as it comes: through a middleware's tap and filter (compression), to the client; the
// head goes with the first piece, or alone when the body keeps it waiting (before a read moves
// the buffer its views point into).
asio::awaitable<bool> exchange::relay_body(upstream::response_body& body) {
    const auto& h = call_->head();
    auto* tap = is_head_ ? nullptr : medit.tap;
    auto* filter = is_head_ ? nullptr : medit.body;
    // A body filter's output has a length of its own (also when a HEAD's body is not filtered).
    const response_head* head = &relayed_head(h.status, h.reason, h.fields, medit.body ? std::nullopt : body.length());
    grpc::message_boundary messages;  // a gRPC answer cut at its limit ends on a message boundary
    for (;;) {
        upstream::response_body::piece p;
        auto st = body.take(p);
        if (st == upstream::response_body::state::need_more) {
            if (head) {  // no co_await in an operand of && (GCC 12)
                const bool ok = co_await d_.send_head(*head, {}, false);
                if (!ok) co_return false;
            }
            head = nullptr;
            if (body.multiplexed()) {
                st = co_await body.wait_more();  // an HTTP/2 upstream's stream
            } else {
                auto [ptr, room] = body.room();
                st = upstream::response_body::state::cut;
                if (room != 0) {
                    auto [ec, n] = co_await body.transport().read_some(ptr, room);
                    st = body.read_done(ec, n);
                }
            }
            if (st == upstream::response_body::state::ok) continue;
        }
        if (st == upstream::response_body::state::expired) co_return co_await end_past_duration(head, messages.at_boundary());
        if (st != upstream::response_body::state::ok) {
            // Cut or malformed: the client never takes what it got for the whole response.
            if (st == upstream::response_body::state::malformed && head) co_await send_error(502, "invalid upstream response");
            d_.reset();
            co_return false;
        }
        if (tap && !p.data.empty()) tap->data(p.data);
        if (grpc_protocol != grpc::protocol::none) messages.feed(p.data);
        std::string_view out = p.data;
        if (filter) {
            filter_buf_.clear();
            if (!filter->filter(p.data, p.last, filter_buf_)) {
                d_.reset();
                co_return false;
            }
            out = filter_buf_;
        }
        const trailers& t = p.last ? response_trailers(body) : trailers_view_;
        if (web_out_) out = grpc_web_piece(out, p.last, t);  // the trailers become the body's last frame
        const bool end = p.last && (t.empty() || web_out_);
        if (head || !out.empty() || end) {
            bool ok = false;  // not a conditional expression over two co_awaits (GCC 12)
            if (head) ok = co_await d_.send_head(*head, out, end);
            else ok = co_await d_.send_data(out, end);
            if (!ok) co_return false;
            head = nullptr;
        }
        if (!p.last) continue;
        if (!end) {
            const bool ok = co_await d_.send_trailers(t);
            if (!ok) co_return false;
        }
        break;
    }
    if (tap) tap->end();
    body.finish();
    co_return true;
}

// A gRPC answer past its call's limit (max_stream_duration, the client's grpc-timeout): a
// Trailers-Only DEADLINE_EXCEEDED when its head has not gone yet; else DEADLINE_EXCEEDED in
// trailers (the body's last frame for gRPC-Web) when the last message went whole, or a reset
// (mid-message, trailers would be read as its rest). The upstream's stream is reset as the call
// ends unfinished.
asio::awaitable<bool> exchange::end_past_duration(const response_head* unsent, bool at_boundary) {
    if (unsent) co_return co_await send_error(504, "stream duration limit reached");
    grpc_status = static_cast<int>(grpc::status_code::deadline_exceeded);
    error_source = "gatehouse";
    if (!at_boundary) {
        d_.reset();
        co_return false;
    }
    const http1::field_view fields[] = {{{"grpc-status", grpc::status_field(grpc::status_code::deadline_exceeded)}},
                                        {{"grpc-message", "stream duration limit reached"}}};
    const trailers t{std::span<const http1::field_view>(fields)};
    if (!web_out_) co_return co_await d_.send_trailers(t);
    const auto last = grpc_web_piece({}, true, t);
    co_return co_await d_.send_data(last, true);
}

// gRPC-Web (routes[].grpc_web): a piece of the gRPC response body as the gRPC-Web client takes
// it (base64 in text mode), and at the end the trailers as a last frame of the body.
std::string_view exchange::grpc_web_piece(std::string_view data, bool last, const trailers& t) {
    web_buf_.clear();
    web_out_->data(data, web_buf_);
    if (last) web_out_->end(t, web_buf_);
    return web_buf_;
}

// The upstream's trailers as the response chain leaves them. A body filter changed the bytes:
// a digest of the upstream's no longer holds.
const trailers& exchange::response_trailers(upstream::response_body& body) {
    trailers_view_ = body.trailers();  // (empty when there are none)
    if (grpc_protocol != grpc::protocol::none) {
        const int in_trailers = grpc::status_in(trailers_view_);
        grpc_status = std::max(grpc_status, in_trailers);
        call_->grpc_ended(in_trailers);  // the breaker learns it (upstream/call.cpp)
    }
    if (!has_chain() && !medit.body) return trailers_view_;
    middleware::trailer_edit edit;
    edit.fields = trailers_view_;
    if (medit.body)
        for (std::string_view digest : {"content-digest", "repr-digest", "digest", "content-md5"}) edit.remove.push_back(digest);
    if (has_chain()) run_trailer_chain(edit);
    trailer_out_.clear();
    trailer_added_ = std::move(edit.add);
    for (auto& f : trailers_view_)
        if (!edit.removes(f.name)) trailer_out_.push_back(f);
    for (auto& [k, v] : trailer_added_)
        if (!field_name_problem(k, false) && !is_forbidden_trailer(k) && middleware::valid_header_value(v)) trailer_out_.push_back({k, v});
    trailers_view_ = trailer_out_;
    return trailers_view_;
}

// The whole response is in the upstream's buffer (a small one, which one write takes): through
// the tap, and the body filter when there is one (its length is known then). No head: the
// filter failed.
exchange::whole_response exchange::prepare_whole(upstream::response_body& body, std::string_view bytes) {
    const auto& h = call_->head();
    return prepare_whole(h.status, h.reason, h.fields, body.length(), bytes);
}

exchange::whole_response exchange::prepare_whole(int status, std::string_view reason, field_list fields,
                                                 std::optional<std::uint64_t> length, std::string_view bytes) {
    auto* tap = is_head_ ? nullptr : medit.tap;
    auto* filter = is_head_ ? nullptr : medit.body;
    if (tap) {
        tap->data(bytes);
        tap->end();
    }
    if (medit.body) length = std::nullopt;
    whole_response out;
    out.data = bytes;
    if (filter) {
        filter_buf_.clear();
        const bool ok = filter->filter(bytes, true, filter_buf_);
        if (!ok) return out;
        length = filter_buf_.size();
        out.data = filter_buf_;
    }
    out.head = &relayed_head(status, reason, fields, length);
    return out;
}

// A middleware decides on the whole body before anything is sent (body_check): the body
// gathered up to its max_bytes (a small one is in the upstream's buffer already; else the
// head's fields are copied first, as reading moves the buffer they point into), then sent as
// one whole response, or a 502 instead.
asio::awaitable<bool> exchange::relay_checked(upstream::response_body& body) {
    auto& check = *medit.check;
    const auto& h = call_->head();
    if (auto whole = body.whole(check.max_bytes())) {
        if (!check.accept(*whole)) {
            body.finish_whole();
            co_return co_await send_error(502, check.refusal());
        }
        auto out = prepare_whole(body, *whole);
        bool ok = false;
        if (out.head) ok = co_await d_.send_head(*out.head, out.data, true);
        body.finish_whole();
        if (!out.head) co_return co_await send_error(502, "response body filter failed");
        co_return ok;
    }
    copy_response_head(h);
    checked_body_.clear();
    for (;;) {
        upstream::response_body::piece p;
        auto st = body.take(p);
        if (st == upstream::response_body::state::need_more) {
            if (body.multiplexed()) {
                st = co_await body.wait_more();  // an HTTP/2 upstream's stream
            } else {
                auto [ptr, room] = body.room();
                st = upstream::response_body::state::cut;
                if (room != 0) {
                    auto [ec, n] = co_await body.transport().read_some(ptr, room);
                    st = body.read_done(ec, n);
                }
            }
            if (st == upstream::response_body::state::ok) continue;
        }
        // Cut, malformed or too large: the upstream's connection is not reused (no finish()).
        if (st != upstream::response_body::state::ok) co_return co_await send_error(502, "invalid upstream response");
        if (checked_body_.size() + p.data.size() > check.max_bytes()) co_return co_await send_error(502, check.refusal());
        checked_body_.append(p.data);
        if (p.last) break;
    }
    const trailers& t = response_trailers(body);
    if (!check.accept(checked_body_)) {
        body.finish();
        co_return co_await send_error(502, check.refusal());
    }
    auto out = prepare_whole(checked_head_.status, checked_head_.reason, checked_fields_, checked_body_.size(), checked_body_);
    if (!out.head) {
        body.finish();
        co_return co_await send_error(502, "response body filter failed");
    }
    bool ok = co_await d_.send_head(*out.head, out.data, t.empty());
    if (ok && !t.empty()) ok = co_await d_.send_trailers(t);
    body.finish();
    co_return ok;
}

// The upstream's status line and fields in checked_head_/checked_fields_, owned.
void exchange::copy_response_head(const upstream::response_head& h) {
    std::size_t size = h.reason.size();
    for (auto& f : h.fields) size += f.name.size() + f.value.size();
    auto& store = checked_head_.store;
    store.clear();
    store.reserve(size);  // no reallocation below: the views stay put
    auto keep = [&store](std::string_view v) {
        const auto at = store.size();
        store.append(v);
        return std::string_view(store).substr(at, v.size());
    };
    checked_head_.status = h.status;
    checked_head_.reason = keep(h.reason);
    checked_fields_.clear();
    for (auto& f : h.fields) checked_fields_.push_back({keep(f.name), keep(f.value)});
}

// A middleware answers instead of the upstream (a stored response after a 304): the upstream's
// body is dropped (its connection is kept only when there was none, or all of it is here).
asio::awaitable<bool> exchange::relay_replacement(upstream::response_body& body) {
    if (body.whole(UINT64_MAX)) body.finish_whole();
    else call_->finish(false);
    co_return co_await send_full(*medit.replace);
}

}  // namespace gatehouse::http
