// routes[].grpc_transcode in the exchange: after the route's chain ran once, the REST request
// (its google.api.http binding, matched in decide()) becomes one gRPC call to the route's
// upstream, made on the exchange's own upstream::call (transcode_stream.cpp; so the upstream's
// breaker, retries, limits and timeouts apply), and the client is answered like a local reply:
// the response message as JSON, or a gRPC error as its HTTP status with {code, message,
// details}. A server-streaming method's answer is relayed as it comes instead.
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "grpc/message.hpp"
#include "grpc/status.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"
#include "observability/trace_context.hpp"
#include "transcode/transcode_config.hpp"
#include "upstream/subrequest.hpp"
#include "util/base64.hpp"

namespace gatehouse::http {

namespace asio = boost::asio;

namespace {

// The request head and body of the call: POST /package.Service/Method (HTTP/1.1 text; an HTTP/2
// upstream gets a header list of its `parts`), the message length-prefixed.
// `traceparent`: the call's own (empty: the request is not traced).
std::string grpc_request_text(std::string_view grpc_path, std::string_view authority, std::string_view request_id,
                              std::string_view traceparent, std::string_view framed, grpc_request_parts& parts) {
    std::string out;
    out.reserve(256 + grpc_path.size() + framed.size());
    const auto part = [&out](std::string_view value) {
        const grpc_request_parts::span where{static_cast<std::uint32_t>(out.size()), static_cast<std::uint32_t>(value.size())};
        out.append(value);
        return where;
    };
    out.append("POST ");
    parts.path = part(grpc_path);
    out.append(" HTTP/1.1\r\nHost: ");
    parts.authority = part(authority);
    parts.traceparent = {};
    if (!traceparent.empty()) {
        out.append("\r\ntraceparent: ");
        parts.traceparent = part(traceparent);
    }
    out.append("\r\ncontent-type: application/grpc\r\nte: trailers\r\nX-Request-Id: ");
    parts.request_id = part(request_id);
    out.append("\r\ncontent-length: ");
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, framed.size());
    parts.length = part(std::string_view(digits, static_cast<std::size_t>(end - digits)));
    out.append("\r\n\r\n");
    parts.body = static_cast<std::uint32_t>(out.size());
    out.append(framed);
    return out;
}

}  // namespace

void exchange::match_transcode() {
    transcode_binding = route->config.grpc_transcode->loaded->match(req.method, path, transcode_values_);
}

// The call's subrequest: the message framed in a gRPC request head to the route's upstream, the
// route's call options (retries by the REST method), a traced request's CLIENT span.
upstream::subrequest exchange::transcode_subrequest(std::string_view framed, net::clock::duration timeout) {
    const auto& r = *route;
    upstream::subrequest sr;
    if (has_trace) {  // the call's traceparent; trace_subrequest gives it its CLIENT span's id
        char span[16];
        observability::hex16(host().random(), span);
        traceparent_.clear();
        observability::append_traceparent(traceparent_, trace_id, span, trace_flags);
    }
    const auto traceparent = has_trace ? std::string_view(traceparent_) : std::string_view{};
    sr.request = grpc_request_text(transcode_binding->grpc_path, upstream_name, request_id, traceparent, framed, transcode_parts_);
    sr.options = call_options_for(r);
    sr.options.timeout = timeout;
    sr.options.replayable = true;  // the whole request is in hand
    sr.max_body = static_cast<std::size_t>(r.config.max_body_bytes.value_or(snap->config.limits.max_body_bytes));
    sr.keep = snap;
    if (auto traced = trace_subrequest(sr.options, sr.request, upstream_name, snap)) sr.keep = std::move(traced);
    return sr;
}

asio::awaitable<bool> exchange::transcode() {
    const auto& r = *route;
    const auto& cfg = *r.config.grpc_transcode;
    upstream_name = snap->clusters[r.upstream_index]->name;
    if (transcode_binding == nullptr) {
        std::string message = "no google.api.http rule of the route's services matches ";
        message.append(req.method).append(" ").append(path);
        co_return co_await send_transcode_error(404, static_cast<int>(grpc::status_code::not_found), message);
    }
    const auto& b = *transcode_binding;
    // The head's views end once the body is read (an HTTP/1 client's buffer moves on): the query
    // is copied first.
    const std::string query(req.query);
    // A middleware that validates the body (openapi) sees it whole first, as on a proxied route.
    if (mctx.body_wanted() != 0) {
        bool answered = false;
        const bool sent = co_await run_body_phase(answered);
        if (answered) co_return sent;
    }
    const bool whole = co_await read_compose_body();
    if (!whole) co_return co_await send_transcode_error(400, static_cast<int>(grpc::status_code::invalid_argument), "the request body could not be read");
    std::string framed, error;
    if (!transcode::encode_request(*cfg.loaded, b, transcode_values_, query, compose_body_, cfg.ignore_unknown_query_parameters, framed,
                                   error))
        co_return co_await send_transcode_error(400, static_cast<int>(grpc::status_code::invalid_argument), error);

    const auto timeout = r.config.timeout.value_or(snap->config.limits.request_timeout);
    auto sr = transcode_subrequest(framed, timeout);
    co_return co_await transcode_call(std::move(sr));
}

// A unary method's answer (status OK) to the client: its message as JSON.
asio::awaitable<bool> exchange::send_transcoded(std::string_view frames) {
    const auto& cfg = *route->config.grpc_transcode;
    std::string error;
    if (!transcode::decode_response(*cfg.loaded, *transcode_binding, frames, cfg.print, reply_body_, error)) {
        error_source = "upstream_failure";
        const std::string why = "the gRPC answer does not decode: " + error;
        co_return co_await send_transcode_error(502, static_cast<int>(grpc::status_code::internal), why);
    }
    transcoded_head();
    if (medit.tap) {  // a cache stores it: its fields (transcoded_head) and, through its tap, the body
        medit.tap->data(reply_body_);
        medit.tap->end();
    }
    std::string_view out;
    if (!filtered_reply(reply_body_, true, out)) co_return false;
    co_return co_await reply_send(out, true);
}

// The head of a translated call's answer (200, JSON): the chain sees it as an upstream's, so a
// translated GET is cached like any JSON response.
void exchange::transcoded_head() {
    reply_start(200);
    reply_field("Content-Type", "application/json");
    if (has_chain()) {
        run_response_chain(200, reply_fields_);
        reply_chain_fields();
    }
    reply_field("X-Request-Id", request_id);
}

// The call did not come to an answer (refused, failed, timed out, or too large).
asio::awaitable<bool> exchange::send_call_failure(const upstream::upstream_error& err, bool too_large) {
    error_source = "upstream_failure";
    const int s = err ? err.status() : 502;
    const auto code = s == 504 ? grpc::status_code::deadline_exceeded : grpc::status_code::unavailable;
    std::string message = "the gRPC call failed: ";
    if (too_large) message += "the answer is too large";
    else if (err) message += err.message();
    else message += "no answer";
    co_return co_await send_transcode_error(s, static_cast<int>(code), message);
}

// An answer that is not gRPC's (another HTTP status, or no grpc-status).
asio::awaitable<bool> exchange::send_not_grpc(int http_status) {
    error_source = "upstream_failure";
    std::string why = "the gRPC answer has no grpc-status";
    if (http_status != 200) why = "the upstream answered HTTP " + std::to_string(http_status) + ", not gRPC";
    co_return co_await send_transcode_error(502, static_cast<int>(grpc::status_code::unknown), why);
}

// grpc-status's value as the exchange's grpc_status (the metrics' and the log's); not OK: the
// upstream is the error's source.
int exchange::note_grpc_status(std::string_view code_text) {
    const auto parsed = grpc::parse_status_field(code_text);
    grpc_status = static_cast<int>(parsed.value_or(grpc::status_code::unknown));
    if (grpc_status != 0) error_source = "upstream";
    return grpc_status;
}

// A gRPC error's message and details as the client's JSON error carries them: grpc-message
// percent-decoded, grpc-status-details-bin base64 without padding as gRPC sends it (padded here).
exchange::grpc_failure exchange::grpc_failure_of(std::string_view message, std::string_view details_bin) {
    grpc_failure out;
    out.message = grpc::decode_message(message);
    std::string details_text(details_bin);
    while (details_text.size() % 4 != 0) details_text += '=';
    out.details = util::base64_decode(details_text).value_or(std::string());
    return out;
}

asio::awaitable<bool> exchange::send_transcode_error(int http_status, int grpc_code, std::string_view message, std::string_view details) {
    const auto& cfg = *route->config.grpc_transcode;
    if (grpc_status < 0) grpc_status = grpc_code;
    if (error_source.empty()) error_source = "gatehouse";
    reply_body_ = transcode::error_body(*cfg.loaded, grpc_code, message, details, cfg.print);
    reply_start(http_status);
    reply_field("Content-Type", "application/json");
    reply_field("X-Request-Id", request_id);
    if (has_chain()) {
        run_response_chain(http_status);
        reply_chain_fields();
    }
    co_return co_await reply_send(reply_body_, true);
}

}  // namespace gatehouse::http
