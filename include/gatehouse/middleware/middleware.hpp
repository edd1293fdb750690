#pragma once
// The middleware contract (DESIGN.md §4, as built). One immutable instance per configured use,
// built at snapshot build time and shared by all workers. Per-request state lives in
// request_context; state that must outlive a snapshot lives in registries keyed by identity.
//
// on_request is synchronous: a middleware that needs no I/O decides at once and costs a virtual
// call. One that must wait (a JWKS refetch, a bcrypt check on a thread pool) returns
// verdict::suspend and is then awaited through on_request_async.
#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gatehouse/http/fields.hpp"
#include "gatehouse/router/path_variables.hpp"

namespace boost::asio {
class io_context;
}

namespace gatehouse::middleware {

// A whole response a middleware supplies instead of the upstream's (a cache hit, a stored
// response after a 304): the status, its fields and the body; the codec writes them in its own
// framing. Content-Length is the core's. `keep` holds what the views point into until the
// response has been written.
struct full_response {
    int status = 200;
    std::span<const std::pair<std::string, std::string>> fields;
    std::string_view body;
    std::shared_ptr<const void> keep;
};

// A reply gatehouse writes itself: in the JSON error shape of the core, or `full` when set.
struct local_reply {
    local_reply() = default;
    local_reply(int s, std::string m, std::vector<std::pair<std::string, std::string>> h = {})
        : status(s), message(std::move(m)), headers(std::move(h)) {}
    int status = 0;
    std::string message;
    std::vector<std::pair<std::string, std::string>> headers;  // values checked for CR/LF by the writer
    std::optional<full_response> full;
};

// A request the core sends to the route's upstream after the chain answered the client
// (verdict::reply) and the answer was written: the current request as it would have been
// proxied (rewrites, the chain's header edits), with no client waiting. Its response, with a
// body up to the asked limit, goes to the handler on the same worker; `ok` is false when it
// failed (connect, timeout, a body over the limit). A cache refreshing an entry in the background.
struct background_response {
    bool ok = false;
    int status = 0;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;
    std::chrono::system_clock::time_point request_time, response_time;
};
using background_handler = std::function<void(background_response&&)>;

// An external call a middleware makes (a Redis command, a JWKS fetch), described for its
// CLIENT span (docs/observability.md, "Tracing"): OpenTelemetry semantic-convention values.
struct client_call {
    std::string_view db_system;       // db.system.name ("redis"); empty for an HTTP call
    std::string_view operation;       // db.operation.name ("EVALSHA"), or the HTTP method ("GET")
    std::string_view url;             // url.full (HTTP)
    std::string_view server_address;  // as configured: host name, IP or Unix socket path
    std::uint16_t server_port = 0;
    std::string_view peer_address;  // the IP connected to, when known
    std::uint16_t peer_port = 0;
    int status = 0;               // http.response.status_code (HTTP; 0: none came)
    std::string_view error_type;  // why it failed (error.type, status ERROR); empty: it succeeded
    std::chrono::steady_clock::time_point start, end;
};

// Where a traced request's middleware records its external calls: each becomes a CLIENT span,
// child of the request's SERVER span. The core sets request_context::trace for a sampled request
// (null otherwise: a middleware then records nothing and pays nothing).
class call_tracer {
public:
    // On the request's worker thread: the span goes to that worker's span queue (no lock).
    virtual void record(const client_call& c) = 0;
    // For a call made for this request on the control thread (a JWKS refetch): a recorder to
    // call there, once, after the request may have ended.
    virtual std::function<void(const client_call&)> detach() = 0;

protected:
    ~call_tracer() = default;
};

// A request a middleware sends to one of the config's upstreams (an authorization service):
// it goes through the worker's upstream call unit like any proxied request (admitted by the
// breaker and limits, balanced, not retried, counted in the gatehouse_upstream_*
// metrics), as HTTP/1.1 with its body in hand. The core adds Host (the upstream's name) and
// Content-Length.
struct upstream_request {
    std::string_view upstream;  // an upstream's name, as the spec declared (middleware_spec::upstreams)
    std::string_view method = "GET";
    std::string target;  // origin-form: path and query
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;
    std::chrono::milliseconds timeout{1000};  // the whole call, every try
    std::size_t max_body = 65536;             // the answer's body is read up to this (more: a failure)
};
struct upstream_answer {
    bool ok = false;         // an answer came, with its body within max_body
    std::string_view error;  // why not (a literal: "connect", "timeout", ...)
    int status = 0;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;
};
using upstream_answer_handler = std::function<void(upstream_answer&&)>;

// What a middleware calls upstreams through; the core implements it per request on the
// request's worker (request_context::upstream).
class upstream_caller {
public:
    // Starts the call; `done` runs on the request's worker when it ends, possibly after the
    // request itself ended (so it must hold nothing of the request). false: the current
    // snapshot has no such upstream (`done` is not called).
    virtual bool call(upstream_request r, upstream_answer_handler done) = 0;

protected:
    ~upstream_caller() = default;
};

class request_context {
public:
    // The request as received; views are valid during on_request / on_request_async only.
    std::string_view method, host, path, query, client_address;
    bool secure = false;          // the client's connection is TLS (the scheme is https)
    bool has_body = false;        // the request has a body (Content-Length or chunked)
    std::string_view route;       // the matched route's name (valid until on_complete)
    std::string_view request_id;  // X-Request-Id as sent upstream and in error bodies (valid until on_complete)
    http::field_list fields;
    // What the route's match.path_template captured ({path.NAME}): views into `path`, valid
    // during on_request / on_request_async only, like it. Empty for other routes.
    router::path_variables path_vars;
    std::size_t worker = 0;                      // index of the worker thread (for per-worker state)
    boost::asio::io_context* ioc = nullptr;      // the worker's io_context (for timers while suspended)
    std::chrono::system_clock::time_point now;   // wall clock at chain start (token expiry, dates)
    std::chrono::steady_clock::time_point mono;  // monotonic clock at chain start (rates, durations)
    // A middleware that suspends bounds every wait by this (the route's timeout from the start of
    // the request): what it waits on is cancelled then, and it decides without it (the Redis
    // store's fallback, for instance).
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    call_tracer* trace = nullptr;  // the request is traced: its external calls are spans (see call_tracer)
    upstream_caller* upstream = nullptr;  // calls to the config's upstreams (see upstream_caller)

    // This middleware's own state for the current request: a T constructed on first use, the
    // same object in on_request, on_request_async, on_response_headers and on_complete, destroyed
    // when the request ends. One type per middleware instance. No allocation once a connection
    // has served a chain this long; T must fit k_state_bytes.
    static constexpr std::size_t k_state_bytes = 128;
    template <class T>
    T& state() {
        static_assert(sizeof(T) <= k_state_bytes && alignof(T) <= alignof(std::max_align_t), "per-request state too large: hold a pointer");
        auto& s = slot();
        if (!s.destroy) {
            new (s.bytes) T();
            s.destroy = [](void* p) { static_cast<T*>(p)->~T(); };
        }
        return *std::launder(reinterpret_cast<T*>(s.bytes));
    }
    // The state if this middleware created one for the current request, else null.
    template <class T>
    T* find_state() {
        if (current_ >= slots_.size() || !slots_[current_].destroy) return nullptr;
        return std::launder(reinterpret_cast<T*>(slots_[current_].bytes));
    }
    // The session: which middleware of the chain (listener chain first) runs next.
    void select(std::size_t index) { current_ = index; }

    // Claims of a verified token (the jwt middleware), as text, for middleware after it.
    std::vector<std::pair<std::string, std::string>> claims;
    std::optional<std::string_view> claim(std::string_view name) const {
        for (auto& [k, v] : claims)
            if (k == name) return std::string_view(v);
        return std::nullopt;
    }

    // First value of a header (case-insensitive name), or nullopt.
    std::optional<std::string_view> header(std::string_view name) const;
    std::optional<std::string_view> cookie(std::string_view name) const;

    // Changes to the request sent upstream. Removals apply to the client's fields (all of that
    // name); additions are sent as given. Names must be valid tokens, values free of CR/LF/NUL.
    void remove_upstream_header(std::string name) { removed_.push_back(std::move(name)); }
    void add_upstream_header(std::string name, std::string value) { added_.emplace_back(std::move(name), std::move(value)); }
    // Drops every query parameter of this (raw) name from the upstream request's target.
    void remove_upstream_query_param(std::string name) { removed_params_.push_back(std::move(name)); }
    const std::vector<std::string>& removed_headers() const { return removed_; }
    const std::vector<std::string>& removed_query_params() const { return removed_params_; }
    const std::vector<std::pair<std::string, std::string>>& added_headers() const { return added_; }

    // Who the request is from, once an authentication middleware has decided (access log).
    std::string subject;

    // Asks to see the request body (on_request_body), up to `max_bytes` (at most
    // k_max_held_body): the core reads it before the upstream call (in place when the codec has
    // it all, else into the exchange's memory, so the codec's buffer and the HTTP/2 stream window
    // do not bound it) and answers 413 when it is larger. `partial`: a larger body is no error,
    // its first `max_bytes` are seen (Envoy ext_authz's allow_partial_message); the whole body
    // still goes upstream. With several askers the largest size counts, and one that wants the
    // whole body makes a larger one a 413.
    static constexpr std::size_t k_max_held_body = 16 * 1024 * 1024;
    void want_body(std::size_t max_bytes, bool partial = false) {
        body_wanted_ = std::max(body_wanted_, std::min(max_bytes, k_max_held_body));
        body_whole_ = body_whole_ || !partial;
    }
    std::size_t body_wanted() const { return body_wanted_; }
    bool body_partial() const { return !body_whole_; }

    // See background_response. At most one per request; only for requests without a body.
    void request_in_background(std::size_t max_body, background_handler h) {
        background_max_body_ = max_body;
        background_ = std::move(h);
    }
    bool wants_background() const { return static_cast<bool>(background_); }
    std::size_t background_max_body() const { return background_max_body_; }
    background_handler take_background() { return std::exchange(background_, nullptr); }

    void reset() {
        removed_.clear();
        removed_params_.clear();
        added_.clear();
        subject.clear();
        claims.clear();
        background_ = nullptr;
        body_wanted_ = 0;
        body_whole_ = false;
        fields = {};
        path_vars.clear();
        route = {};
        request_id = {};
        deadline = std::chrono::steady_clock::time_point::max();
        trace = nullptr;
        upstream = nullptr;
        end_states();
    }
    // Destroys every middleware's per-request state (the request is over).
    void end_states() {
        for (auto& s : slots_)
            if (s.destroy) {
                s.destroy(s.bytes);
                s.destroy = nullptr;
            }
        current_ = 0;
    }
    request_context() = default;
    request_context(const request_context&) = delete;
    request_context& operator=(const request_context&) = delete;
    ~request_context() { end_states(); }

private:
    struct state_slot {
        alignas(std::max_align_t) unsigned char bytes[k_state_bytes];
        void (*destroy)(void*) = nullptr;
    };
    state_slot& slot() {
        while (current_ >= slots_.size()) slots_.emplace_back();  // deque: live states never move
        return slots_[current_];
    }
    std::vector<std::string> removed_, removed_params_;
    std::vector<std::pair<std::string, std::string>> added_;
    std::deque<state_slot> slots_;
    std::size_t current_ = 0;
    background_handler background_;
    std::size_t background_max_body_ = 0;
    std::size_t body_wanted_ = 0;
    bool body_whole_ = false;
};

// A change to the response body as it streams to the client (compression). Installed by at most
// one middleware from on_response_headers; it lives in that middleware's per-request state. The
// core then drops the upstream's Content-Length and frames what the filter yields itself
// (chunked, or Content-Length when the whole body was at hand).
class body_filter {
public:
    virtual ~body_filter() = default;
    // Appends to `out` what `in` becomes. `last` exactly once, at the end of the body (`in` may be
    // empty then). Called once per read from the upstream, so what arrived is passed on at once.
    // false: the filter failed; the response is cut (the client sees the connection close).
    virtual bool filter(std::string_view in, bool last, std::string& out) = 0;
};

// Sees the response body as it goes to the client (a cache storing it while it streams). Set by
// at most one middleware from on_response_headers, living in its per-request state.
class body_tap {
public:
    virtual ~body_tap() = default;
    // Each piece of the body as the upstream sent it, decoded from chunked framing, before any
    // body_filter; in order, as it is relayed.
    virtual void data(std::string_view piece) = 0;
    // The whole body went through. Not called when the response was cut (on_complete follows).
    virtual void end() = 0;
};

// Decides on the whole response body before any of the response goes to the client (openapi's
// response: { body: enforce }). Set by at most one middleware from on_response_headers, living
// in its per-request state; only with upstream responses that have a body. The core holds the
// response back and gathers its body (decoded, before any body_filter) up to max_bytes(): a
// larger one, one that is cut, or one accept() refuses is answered with a 502 instead (the
// upstream's connection is closed unless its body was read whole).
class body_check {
public:
    virtual ~body_check() = default;
    virtual std::size_t max_bytes() const = 0;
    // The whole body. false: the client gets a 502 (see refusal()).
    virtual bool accept(std::string_view body) = 0;
    // Why a body was refused (the 502's message): too large, or what accept() found.
    virtual std::string_view refusal() const = 0;
};

// The response head about to go to the client, as middleware may change it (on_response_headers).
struct response_edit {
    int status = 0;
    // The upstream response's fields (empty for gatehouse's own answers); valid during the call.
    http::field_list fields;
    // Fields written after the kept ones. Names are views: literals, or strings of the middleware
    // instance (alive while the request's snapshot is); values are strings whose buffers stay
    // with the connection from one request to the next, so a request adds fields without
    // allocating.
    class added_fields {
    public:
        using value_type = std::pair<std::string_view, std::string>;
        // Adds a field and returns it (its value may be filled in place).
        value_type& emplace_back(std::string_view name, std::string_view value = {}) {
            if (used_ == slots_.size()) slots_.emplace_back();
            auto& f = slots_[used_++];
            f.first = name;
            f.second.assign(value);
            return f;
        }
        template <class Pred>
        void remove_if(Pred pred) {
            std::size_t kept = 0;
            for (std::size_t i = 0; i < used_; ++i)
                if (!pred(slots_[i])) {
                    if (kept != i) std::swap(slots_[kept], slots_[i]);
                    ++kept;
                }
            used_ = kept;
        }
        value_type* begin() { return slots_.data(); }
        value_type* end() { return slots_.data() + used_; }
        const value_type* begin() const { return slots_.data(); }
        const value_type* end() const { return slots_.data() + used_; }
        bool empty() const { return used_ == 0; }
        std::size_t size() const { return used_; }
        void clear() { used_ = 0; }

    private:
        std::vector<value_type> slots_;
        std::size_t used_ = 0;
    };
    added_fields add;
    std::vector<std::string_view> remove;  // every field of that name is dropped (not ours in `add`)
    body_filter* body = nullptr;           // see body_filter; only with upstream responses
    body_tap* tap = nullptr;               // see body_tap; only with upstream responses
    body_check* check = nullptr;           // see body_check; only with upstream responses
    // Sent instead of what the head belongs to (the upstream's response, whose body is then
    // dropped, or gatehouse's own error answer); `add` and `remove` apply to it.
    std::optional<full_response> replace;
    bool removes(std::string_view name) const {
        for (auto& r : remove)
            if (http::iequals(r, name)) return true;
        return false;
    }
    std::optional<std::string_view> field(std::string_view name) const {
        for (auto& f : fields)
            if (http::iequals(f.name, name)) return f.value;
        return std::nullopt;
    }
};

// The trailers about to end a response that goes to the client chunked (HTTP/1.1): the
// upstream's, validated and without the fields no trailer may carry (empty when it sent none),
// and what middleware removes or adds (on_response_trailers). Gatehouse's own answers and
// responses to HTTP/1.0 or close-delimited clients have none.
struct trailer_edit {
    http::field_list fields;                               // valid during the call
    std::vector<std::pair<std::string, std::string>> add;  // values checked like header values
    std::vector<std::string_view> remove;                  // literals or the middleware's own strings
    bool removes(std::string_view name) const {
        for (auto& r : remove)
            if (http::iequals(r, name)) return true;
        return false;
    }
};

enum class verdict { next, reply, suspend };

class middleware {
public:
    virtual ~middleware() = default;
    // In chain order. next: continue; reply: answer with `reply`, the chain stops;
    // suspend: call on_request_async (only middleware that override it may return this).
    virtual verdict on_request(request_context& ctx, local_reply& reply) const = 0;
    virtual boost::asio::awaitable<verdict> on_request_async(request_context& ctx, local_reply& reply) const;
    // With the whole request body, when this middleware asked for it in on_request
    // (request_context::want_body): after the request phase of the whole chain, before the
    // upstream call; in chain order. The request's views (method, path, fields) have ended by
    // then: keep what is needed in the per-request state. suspend: call on_request_body_async
    // with the same body (only middleware that override it may return this). Upstream fields
    // added here (add_upstream_header) still go upstream; removals must be made in on_request.
    virtual verdict on_request_body(request_context&, std::string_view /*body*/, local_reply&) const { return verdict::next; }
    virtual boost::asio::awaitable<verdict> on_request_body_async(request_context& ctx, std::string_view body, local_reply& reply) const;
    // In reverse order, with the response head about to be sent: the upstream's, a middleware's
    // reply, or gatehouse's own error answer after an upstream failure (fields empty). Never suspends.
    virtual void on_response_headers(request_context&, response_edit&) const {}
    // In reverse order, when the response's body ended and its trailers are about to be sent
    // (see trailer_edit). Never suspends.
    virtual void on_response_trailers(request_context&, trailer_edit&) const {}
    // Exactly once per request that reached the chain, last, whatever happened (status 0: no
    // response was sent).
    virtual void on_complete(const request_context&, int /*status*/) const noexcept {}
};

inline bool valid_header_value(std::string_view v) { return http::valid_field_value(v); }  // no CR, LF, NUL or other CTLs except HTAB

}  // namespace gatehouse::middleware
