// The exchange's lifecycle: begin, the head noted, routed, completed (metrics, access log,
// on_complete). The chain runner is in exchange_chain.cpp, local replies in local_replies.cpp.
#include "http/exchange.hpp"

#include <cctype>
#include <cstring>

#include "gatehouse/router/path.hpp"
#include "grpc/status.hpp"
#include "grpc/timeout.hpp"
#include "http/session_host.hpp"
#include "net/listener_state.hpp"
#include "observability/access_log.hpp"
#include "observability/trace_context.hpp"
#include "observability/tracing.hpp"
#include "transcode/transcode_config.hpp"
#include "util/text.hpp"

namespace gatehouse::http {

exchange::exchange(session_host& w, const net::listener_state& listener, downstream& d) : w_(w), listener_(listener), d_(d) {
    reply_fields_.reserve(8);
    up_head_.fields.reserve(24);
}

void exchange::begin() {
    start = net::clock::now();
    status = 0;
    bytes_in = bytes_out = 0;
    route = nullptr;
    method_slot = observability::k_methods.size() - 1;
    log_this = false;
    upstream_name = {};
    upstream_addr.clear();
    upstream_ms = -1;
    upstream_status = 0;
    error_source = {};
    upstream_attempts = 0;
    needs_switch = false;
    has_trace = new_trace = tracing_ = false;
    req = {};
    request_id = {};
    grpc_protocol = grpc::protocol::none;
    grpc_timeout.reset();
    grpc_status = -1;
    grpc_web_ = false;
    web_out_.reset();
    transcode_binding = nullptr;
    listener_chain = route_chain = nullptr;
    mctx.reset();
    medit.add.clear();
    medit.remove.clear();
    medit.fields = {};
    medit.body = nullptr;
    medit.tap = nullptr;
    medit.check = nullptr;
    medit.replace.reset();
    mreply.full.reset();
    held_body_.clear();
    for (auto* str : {&held_body_, &checked_body_})  // a large checked body is not kept per connection
        if (str->capacity() > 64 * 1024) std::string().swap(*str);
}

namespace {
bool sane_request_id(std::string_view v) {
    if (v.empty() || v.size() > 128) return false;
    for (unsigned char c : v)
        if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=')) return false;
    return true;
}
}  // namespace

void exchange::note_head(const request_head& head, bool valid, std::string_view raw_target) {
    snap = w_.current();
    req = head;
    std::string_view user_agent;
    note_fields(head, user_agent);
    if (request_id.empty()) request_id = w_.new_request_id(rid_buf_);
    if (!has_trace && snap->config.tracing.generate) {
        observability::random_hex(
            trace_id, 32, [](void* w) { return static_cast<session_host*>(w)->random(); }, &w_);
        const double ratio = snap->config.tracing.sample;  // parent-based: only traces we start are ours to sample
        trace_flags = ratio >= 1.0 || observability::sample_new_trace(ratio, w_.random()) ? 1 : 0;
        has_trace = new_trace = true;
    }
    if (has_trace && (trace_flags & 1) && snap->tracer) start_server_span();
    method_slot = observability::method_slot(head.method);
    if (snap->access_log && snap->access_log->sampled(w_.random())) {
        log_this = true;
        log_method.assign(head.method);
        log_host.assign(head.authority);
        log_path.assign(valid ? head.path : raw_target);
        log_query.assign(snap->config.access_log.include_query ? head.query : std::string_view{});
        log_agent.assign(user_agent);
    }
}

void exchange::note_client_method(std::string_view method) {
    method_slot = observability::method_slot(method);
    if (log_this) log_method.assign(method);
}

// The request id, the trace, the gRPC protocol and the User-Agent from the request's fields.
void exchange::note_fields(const request_head& head, std::string_view& user_agent) {
    for (auto& f : head.fields) {
        if (f.name.size() == 12 && iequals(f.name, "x-request-id") && sane_request_id(f.value)) {
            rid_store_.assign(f.value);
            request_id = rid_store_;
        } else if (f.name.size() == 11 && iequals(f.name, "traceparent") && !has_trace) {
            observability::trace_context tc;
            if (observability::parse_traceparent(f.value, tc)) {
                std::memcpy(trace_id, tc.trace_id, 32);
                std::memcpy(trace_parent, tc.parent_id, 16);
                trace_flags = tc.flags;
                has_trace = true;
            }
        } else if (f.name.size() == 12 && iequals(f.name, "content-type")) {
            grpc_protocol = grpc::classify_content_type(f.value);
        } else if (f.name.size() == 12 && iequals(f.name, "grpc-timeout")) {
            grpc_timeout = grpc::parse_timeout(f.value);
        } else if (f.name.size() == 10 && iequals(f.name, "user-agent")) {
            user_agent = f.value;
        }
    }
}

const char* exchange::normalise_path() { return router::normalize_path(req.path, path); }

// What the request gets, decided before any I/O: a plain function, so a proxied request
// without a chain costs no coroutine frame here (and each answer below is one co_await in its
// own branch: GCC 12 miscompiles co_await in the conditions of an if-else chain).
exchange::answer exchange::decide() {
    if (req.path == "*") return answer::options;
    if (listener_.cfg.https_redirect_port) return answer::to_https;
    if (!find_route()) return answer::no_route;
    if (route->config.grpc_transcode) match_transcode();
    if (body_too_large()) return answer::too_large;
    if (select_chain()) return answer::chain;
    return after_chain();
}

exchange::answer exchange::pass_chain(answer a) {
    if (a != answer::chain) return a;
    start_chain();
    chain_next_ = 0;
    switch (run_chain_until(chain_next_)) {
        case chain_step::done: return after_chain();
        case chain_step::reply: return answer::chain_reply;
        case chain_step::suspend: break;
    }
    return answer::chain;
}

exchange::answer exchange::after_chain() const {
    if (route->config.respond) return answer::respond;
    if (route->config.redirect) return answer::redirect;
    if (route->config.compose) return answer::compose;
    if (route->config.grpc_transcode && (transcode_binding || !route->config.grpc_transcode->passthrough_unmatched)) return answer::transcode;
    return answer::upstream;
}

boost::asio::awaitable<exchange::next> exchange::serve(answer a, bool& written) {
    if (a == answer::chain) {
        const bool go_on = co_await run_chain_from(chain_next_, written);
        if (!go_on) co_return next::answered;
        a = after_chain();
    }
    switch (a) {
        case answer::options: written = co_await send_options_asterisk(); break;
        case answer::to_https: written = co_await send_https_redirect(); break;
        case answer::no_route: written = co_await send_error(404, "no route matches the request"); break;
        case answer::too_large: written = co_await send_error(413, "request body too large"); break;
        case answer::respond: written = co_await send_respond(*route->config.respond); break;
        case answer::redirect: written = co_await send_redirect(*route->config.redirect); break;
        case answer::compose: written = co_await compose(); break;
        case answer::transcode: written = co_await transcode(); break;
        case answer::chain_reply: written = co_await send_chain_reply(); break;
        case answer::chain:
        case answer::upstream: co_return next::upstream;
    }
    co_return next::answered;
}

const router::compiled_route* exchange::find_route() {
    router::request_view view{req.method, router::normalize_host(req.authority, host_buf), path, req.query, req.fields, &mctx.path_vars};
    route = snap->routes->match(view);
    if (log_this) {
        log_path = path;  // the normalised path, before any rewrite
        if (route && !route->config.access_log) log_this = false;
    }
    return route;
}

bool exchange::body_too_large() const {
    return req.content_length && *req.content_length > route->config.max_body_bytes.value_or(snap->config.limits.max_body_bytes);
}

// The client's address for policy (rate-limit keys, access lists): the peer, or, when the peer is
// a trusted proxy, the rightmost X-Forwarded-For entry that is not itself a trusted proxy (the
// entries to its left are whatever the client chose to send).
std::string_view exchange::real_client() const {
    const auto& f = facts();
    if (!f.trusted_proxy) return f.peer;
    std::string_view found = f.peer;
    for (auto& field : req.fields) {  // the last X-Forwarded-For field holds the rightmost entries
        if (field.name.size() != 15 || !iequals(field.name, "x-forwarded-for")) continue;
        std::string_view v = field.value;
        while (!v.empty()) {
            auto comma = v.rfind(',');
            auto entry = v.substr(comma == std::string_view::npos ? 0 : comma + 1);
            v = v.substr(0, comma == std::string_view::npos ? 0 : comma);
            entry = util::trim(entry);
            auto a = util::ip_address::parse(entry);
            if (!a) break;  // not an address: trust nothing further left
            found = entry;
            bool trusted = false;
            for (auto& c : listener_.cfg.trusted_proxies) trusted = trusted || c.contains(*a);
            if (!trusted) break;
        }
    }
    return found;
}

void exchange::complete() {
    if (!snap) return;
    // The request's views point into buffers that have moved on: on_complete gets what it owns
    // (its per-request state, route and request_id), never a dangling view.
    mctx.method = mctx.host = mctx.path = mctx.query = mctx.client_address = {};
    mctx.fields = {};
    mctx.path_vars.clear();
    std::size_t index = 0;
    for (const auto* chain : {listener_chain, route_chain}) {
        if (!chain) continue;
        for (auto& m : *chain) {
            mctx.select(index++);
            m->on_complete(mctx, status);
        }
    }
    mctx.end_states();
    listener_chain = route_chain = nullptr;
    if (tracing_) end_server_span();
    if (status != 0) {
        auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(net::clock::now() - start).count());
        observability::route_stats* stats = nullptr;
        if (route && route->index < snap->route_stats.size()) stats = snap->route_stats[route->index].get();
        else if (!route) stats = snap->unmatched_stats.get();
        if (stats) {
            auto& sh = stats->at(w_.id());
            sh.requests[observability::protocol_slot(facts().protocol)][method_slot][observability::code_slot(status)].add();
            sh.duration.observe(ns);
            sh.request_bytes.add(bytes_in);
            // A translated request counts once its call answered (or was refused before it): not a
            // cache hit that made no call.
            if (grpc_protocol != grpc::protocol::none || (transcode_binding && grpc_status >= 0)) sh.grpc_statuses[static_cast<std::size_t>(final_grpc_status())].add();
            sh.response_bytes.add(bytes_out);
        }
        if (log_this && snap->access_log) write_log(ns);
    }
    status = 0;
    req = {};
    snap.reset();
}

// A gRPC call's status when neither a head nor trailers carried one: the client left
// (CANCELLED), an HTTP error the client maps (grpc's http-grpc-status-mapping.md), or a 200
// without a status (a cut stream: UNKNOWN).
int exchange::final_grpc_status() {
    if (grpc_status < 0) {
        if (status == 499) grpc_status = static_cast<int>(grpc::status_code::cancelled);
        else if (status != 200) grpc_status = static_cast<int>(grpc::from_http_status(status));
        else grpc_status = static_cast<int>(grpc::status_code::unknown);
    }
    return grpc_status;
}

void exchange::release_memory() {
    for (auto* str : {&path, &host_buf, &reply_body_, &reply_scratch_, &query_buf_, &traceparent_, &rewrite_buf_, &compose_body_, &compose_log_, &held_body_, &checked_body_, &checked_head_.store}) std::string().swap(*str);
    decltype(reply_fields_)().swap(reply_fields_);
    decltype(forwarded_.kept)().swap(forwarded_.kept);
    decltype(forwarded_.added)().swap(forwarded_.added);
    decltype(relayed_kept_)().swap(relayed_kept_);
    decltype(relayed_added_)().swap(relayed_added_);
    for (auto* str : {&relay_buf_, &filter_buf_}) std::string().swap(*str);
    decltype(up_head_.fields)().swap(up_head_.fields);
    sender_.release_memory();
}

void exchange::write_log(std::uint64_t ns) {
    observability::request_log_entry e;
    e.time = std::chrono::system_clock::now();
    e.request_id = request_id;
    if (has_trace) e.trace_id = std::string_view(trace_id, 32);
    e.client = facts().peer;
    e.method = log_method;
    e.host = log_host;
    e.path = log_path;
    e.query = log_query;
    e.status = status;
    e.request_bytes = bytes_in;
    e.response_bytes = bytes_out;
    e.duration_ms = static_cast<double>(ns) / 1e6;
    e.route = route ? std::string_view(route->config.name) : std::string_view{};
    e.upstream = upstream_name;
    e.upstream_address = upstream_addr;
    e.upstream_duration_ms = upstream_ms;
    e.upstream_status = upstream_status;
    e.error_source = error_source;
    e.upstream_attempts = upstream_attempts;
    if (grpc_protocol != grpc::protocol::none || (transcode_binding && grpc_status >= 0)) e.grpc_status = final_grpc_status();
    if (transcode_binding) e.grpc_method = transcode_binding->grpc_path;
    e.user_agent = log_agent;
    e.jwt_subject = mctx.subject;
    e.tls_version = facts().tls_version;
    e.protocol = facts().protocol;
    if (route && route->config.compose) e.compose_calls = compose_log_;
    snap->access_log->write(w_.id(), e);
}

}  // namespace gatehouse::http
