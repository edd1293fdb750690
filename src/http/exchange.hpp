#pragma once
// One request, whatever codec brought it: what belongs to it (the snapshot, the route, the
// middleware's request context and response edits, the access log's record, the trace) and the
// protocol-neutral phases it goes through: note the head → route → request chain → local reply
// | upstream → response chain → complete (on_complete, metrics, access log). Replies gatehouse
// makes itself (errors in the JSON shape, `respond`, `redirect`, OPTIONS *, a middleware's whole
// response) are built here as a response head and a body, and written by the downstream stream:
// each codec has one response writer.
//
// A codec owns one exchange per stream and reuses it from request to request (the strings and
// vectors keep their capacity). The upstream phase (proxy.cpp, relay.cpp) sends the request
// through an upstream::call and relays the response through the downstream stream; only a
// protocol switch (101) goes back to the codec, which runs the tunnel.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compose/render.hpp"
#include "config/snapshot.hpp"
#include "gatehouse/http/message.hpp"
#include "gatehouse/http/stream.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "grpc/content_type.hpp"
#include "http/chain_calls.hpp"
#include "http/forwarded_request.hpp"
#include "net/deadlines.hpp"
#include "observability/call_spans.hpp"
#include "router/route_table.hpp"
#include "transcode/http_template.hpp"
#include "http/grpc_web_body.hpp"
#include "upstream/streamed_request.hpp"

namespace gatehouse::transcode {
struct binding;
class response_stream;
}
namespace gatehouse::upstream {
struct subrequest;
struct subresponse;
}

namespace gatehouse::net {
struct listener_state;
}
namespace gatehouse::upstream {
struct call_options;
class response_body;
}

namespace gatehouse::http {

class session_host;
class composition;

// Where the parts of a translated gRPC call's request text are (offset, length; transcode_reply.cpp
// writes it): an HTTP/2 upstream gets its header list from them, not from a scan of the text.
struct grpc_request_parts {
    struct span {
        std::uint32_t at = 0, size = 0;
    };
    span path, authority, traceparent, request_id, length;
    std::uint32_t body = 0;
};

class exchange {
public:
    exchange(session_host& w, const net::listener_state& listener, downstream& d);
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;

    // A new request: the previous one's state is cleared, the clock starts.
    void begin();
    // The head arrived (scanned or not: `valid` false when the codec refused it): the snapshot
    // to use, the request id (the client's when sane, else a new one), the trace (continued or
    // started), the method's metric slot and the access log's copies. `raw_target`: what the log
    // shows as the path until routing normalises it.
    void note_head(const request_head& head, bool valid, std::string_view raw_target);
    // The method the client sent, for the metrics and the log, where the head routed and sent
    // upstream says another (an HTTP/2 WebSocket: CONNECT with :protocol, a GET Upgrade upstream).
    void note_client_method(std::string_view method);
    // The request's path normalised into `path`; a reason when it cannot be (a 400).
    const char* normalise_path();
    // What comes after a noted head, decided without I/O (the route is found, the chain
    // selected): OPTIONS *, a redirect-only listener's HTTPS redirect, no route (404), a body
    // larger than the route allows (413), the chain, the route's `respond` or `redirect`, or
    // its upstream. Anything but `upstream` is then served: the chain runs (a middleware may
    // answer), and a reply is written. next::upstream: the route's upstream phase is next;
    // answered: the reply went out when `written`.
    enum class answer { options, to_https, no_route, too_large, chain, chain_reply, respond, redirect, compose, transcode, upstream };
    answer decide();
    // decide()'s answer::chain taken as far as it goes without waiting: the chain's request phase
    // runs as plain calls while each middleware answers at once (a chain that never suspends
    // costs no coroutine frame), then what comes after it (upstream: no serve() needed); a
    // middleware's reply is answer::chain_reply; one that suspends leaves answer::chain for
    // serve(), which goes on from it. Other answers pass unchanged.
    answer pass_chain(answer a);
    enum class next { answered, upstream };
    boost::asio::awaitable<next> serve(answer a, bool& written);
    // The route for the request (null when none matches); also set as `route`.
    const router::compiled_route* find_route();
    // The request body is larger than the route allows (a 413 before anything is read).
    bool body_too_large() const;
    // The route's middleware chain (the listener's first): selected (false: there is none), then
    // run: pass_chain as far as no middleware suspends (run_chain_until), then run_chain_from
    // the one that suspended (chain_next_), which returns false when a middleware answered, and
    // its reply has been written (`written` says whether the write went).
    bool select_chain();
    enum class chain_step { done, reply, suspend };
    void start_chain();
    chain_step run_chain_until(std::size_t& at);
    boost::asio::awaitable<bool> run_chain_from(std::size_t at, bool& written);
    // The upstream phase (proxy.cpp, relay.cpp), after decide() or serve() said upstream: the
    // request goes to the route's upstream with its body, and the response (or gatehouse's
    // answer when the call failed, or the route's fallback) to the client. Returns whether the
    // client got a whole response. After a 101, switched() holds: the codec runs the tunnel on
    // upstream_call() and ends it with end_call().
    boost::asio::awaitable<bool> proxy();
    bool switched() const { return call_ && status == 101; }
    // The client can only take a switch (an HTTP/2 extended CONNECT, RFC 8441): any other 2xx
    // from the upstream would read as an open tunnel to it, so it is a 502. Reset by begin().
    bool needs_switch = false;
    upstream::call& upstream_call() { return *call_; }
    std::string_view upgrade() const { return upgrade_; }
    void end_call();
    // After a middleware's reply: the request the chain asked for in the background
    // (request_context::request_in_background), sent to the route's upstream (background.cpp).
    void start_background();
    // routes[].compose (compose_reply.cpp, composition.hpp): the calls run and their merged
    // answer goes to the client like a local reply. Returns whether the client got it.
    boost::asio::awaitable<bool> compose();
    // routes[].grpc_transcode (transcode_reply.cpp): the REST request made one gRPC call to the
    // route's upstream, its answer (or error) to the client as JSON. Returns whether the client
    // got it.
    boost::asio::awaitable<bool> transcode();
    // The google.api.http binding the request matched (set by decide(); null: none), and the
    // body the exchange reads itself (a composition's or a translated call's).
    const transcode::binding* transcode_binding = nullptr;
    bool reads_body_itself() const { return route && (route->config.compose || transcode_binding); }

    // Metrics, access log and on_complete: once per request, however it ended.
    void complete();
    // Between requests, on a connection idle long enough: what the exchange's buffers hold goes.
    void release_memory();

    // Replies gatehouse makes itself. Each returns whether the client got it.
    using extra_fields = std::span<const std::pair<std::string, std::string>>;
    boost::asio::awaitable<bool> send_error(int status, std::string_view message, extra_fields extra = {});
    boost::asio::awaitable<bool> send_respond(const config::respond_config& rc);
    boost::asio::awaitable<bool> send_redirect(const config::redirect_config& rc);
    boost::asio::awaitable<bool> send_https_redirect();
    boost::asio::awaitable<bool> send_options_asterisk();
    boost::asio::awaitable<bool> send_full(const middleware::full_response& r);

    // The response chain, in reverse order, on a response head: gatehouse's own (`fields`
    // empty) or the upstream's.
    bool has_chain() const { return listener_chain || route_chain; }
    void run_response_chain(int status, field_list fields = {});
    void run_trailer_chain(middleware::trailer_edit& edit);

    // The request as it goes upstream (forwarding.cpp): `path` rewritten per the route, the
    // client's fields that pass and gatehouse's. `cluster_name`: the Host when the client sent
    // none; `upgrade`: the Upgrade value the route lets through (empty: none). Valid until the
    // request's head views die.
    const forwarded_request& forward(const router::compiled_route& r, std::string_view cluster_name, std::string_view upgrade);

    // A relayed response head as it goes to the client (forwarding.cpp): the upstream's fields
    // without hop-by-hop ones, those its Connection field names, Content-Length (the codec
    // frames the body) and what the response chain removed; then what the chain added (the
    // chain has run). `status` is what the client gets. An interim (1xx) head: end-to-end fields only.
    const response_head& relayed_head(int status, std::string_view reason, field_list fields, std::optional<std::uint64_t> content_length);
    const response_head& relayed_interim(int status, std::string_view reason, field_list fields);

    // The client's address for policy: the peer, or what a trusted proxy says it forwarded for.
    std::string_view real_client() const;
    const connection_facts& facts() const { return d_.facts(); }
    session_host& host() const { return w_; }

    // The request (the codec's views: see request_head).
    request_head req;
    std::shared_ptr<const config::snapshot> snap;
    std::string path;      // normalised (and rewritten, once proxied)
    std::string host_buf;  // the host lower-cased when it needed it
    const router::compiled_route* route = nullptr;
    std::string_view request_id;
    // The gRPC protocol the request speaks (its content-type): gatehouse's own answers to it are
    // gRPC answers (Trailers-Only), and policies see the gRPC status.
    grpc::protocol grpc_protocol = grpc::protocol::none;
    std::optional<std::chrono::milliseconds> grpc_timeout;  // the client's grpc-timeout, when valid
    int grpc_status = -1;  // what the client's call ended with (metrics, access log); -1: not known yet

    // The middleware chain of the request.
    middleware::request_context mctx;
    middleware::local_reply mreply;
    middleware::response_edit medit;
    const config::snapshot::chain* listener_chain = nullptr;
    const config::snapshot::chain* route_chain = nullptr;
    std::size_t chain_next_ = 0;  // the middleware that suspended (pass_chain), serve() goes on from

    // For metrics, the access log and tracing.
    net::clock::time_point start{};
    int status = 0;  // the status the client got (0: none yet; 499: it left)
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::size_t method_slot = 0;
    bool log_this = false;
    std::string log_method, log_host, log_path, log_query, log_agent;
    std::string_view upstream_name;  // a view into the snapshot's cluster
    std::string upstream_addr;       // the endpoint (which may leave the set before the log line)
    double upstream_ms = -1;
    int upstream_status = 0;        // the upstream's own status, when one came
    std::string_view error_source;  // who made an error answer (access log)
    int upstream_attempts = 0;
    bool has_trace = false, new_trace = false;
    char trace_id[32];
    char trace_parent[16];  // the client's parent id, when it sent a traceparent
    std::uint8_t trace_flags = 0;

private:
    // Tracing (exchange_trace.cpp): the SERVER span of a sampled request, and the CLIENT spans of
    // its upstream call (`o.trace`; the traceparent in `upstream_head` carries their ids).
    void trace_upstream(upstream::call_options& o, std::span<char> upstream_head, std::string_view upstream);
    // A subrequest's copy of the request (the mirror, a background refresh): its CLIENT span,
    // owned by what is returned (null when the request is not traced), which also keeps `also`.
    void retrace_upstream_head();  // after the upstream head changed (add_late_fields)
    std::shared_ptr<const void> trace_subrequest(upstream::call_options& o, std::string& request, std::string_view upstream,
                                                 std::shared_ptr<const void> also = {});
    void start_server_span();
    void end_server_span();
    void note_client_span(const char (&span_id)[16]);
    bool tracing_ = false;  // the request is sampled and its spans recorded
    observability::span_record server_span_;
    observability::client_spans client_spans_;
    observability::call_spans call_spans_;  // the chain's external calls (mctx.trace)

    answer after_chain() const;
    template <class F>
    void each_in_reverse(F&& f);
    // The chain's middleware in order, the listener's first (chain_size() of them).
    std::size_t chain_size() const { return (listener_chain ? listener_chain->size() : 0) + (route_chain ? route_chain->size() : 0); }
    const middleware::middleware& chain_at(std::size_t i) const;
    void note_fields(const request_head& head, std::string_view& user_agent);
    void write_log(std::uint64_t ns);
    int final_grpc_status();
    boost::asio::awaitable<bool> send_chain_reply();
    // The chain's body phase (on_request_body) for a request whose chain asked to see the body
    // (request_context::want_body): the body read whole, unconsumed in the codec's buffer, so the
    // call sends it as usual. After prepare_call (reading the body ends the head's views).
    // `answered`: a middleware or the body's size answered, and whether that reply went out.
    boost::asio::awaitable<bool> run_body_phase(bool& answered);
    boost::asio::awaitable<body_status> gather_body(std::size_t limit, bool partial, std::string_view& body);
    std::string held_body_;  // the body (or its first part) a body phase took from the codec
    // Upstream fields the body phase added (from mctx.added_headers()[from]): into the upstream
    // head, written already by prepare_call.
    void add_late_fields(std::size_t from);
    // The reply under construction: its fields (views into what lives until it is written) and body.
    void reply_start(int status);
    void reply_field(std::string_view name, std::string_view value) { reply_fields_.push_back({name, value}); }
    void reply_chain_fields();  // what the response chain added (valid values only)
    boost::asio::awaitable<bool> reply_send(std::string_view body, bool has_body);
    void error_body(int status, std::string_view message);
    // A gRPC request's error: HTTP 200, Trailers-Only (grpc-status and grpc-message in the head).
    void grpc_error_head(int status, std::string_view message);

    // Composition (compose_reply.cpp).
    friend class composition;
    friend class chain_calls;  // a traced request's chain calls are CLIENT spans (trace_subrequest)
    compose::request_inputs compose_inputs() const;
    boost::asio::awaitable<bool> read_compose_body();
    boost::asio::awaitable<bool> send_compose_failure(const composition& run, const compose::call_config& c);
    std::string compose_body_;  // the client's body, for calls with `body: client`
    std::string compose_log_;   // the access log's compose_calls

    // REST to gRPC (transcode_reply.cpp).
    void match_transcode();
    upstream::subrequest transcode_subrequest(std::string_view framed, net::clock::duration timeout);
    boost::asio::awaitable<bool> send_transcode_error(int http_status, int grpc_code, std::string_view message,
                                                      std::string_view details = {});
    // A unary method's answer body (its one gRPC message, length-prefixed) as the JSON answer.
    boost::asio::awaitable<bool> send_transcoded(std::string_view frames);
    void transcoded_head();
    // A piece of an answer gatehouse built (a translated call's, a composition's) through the
    // chain's body filter (compression), when it set one: `out` views the filter's output (or `in`). false: the filter failed (the stream is reset).
    bool filtered_reply(std::string_view in, bool last, std::string_view& out);
    // The response chain over an answer gatehouse built whole (reply_start, reply_field): it sees
    // the answer's fields and length (a compress middleware's type and min_bytes), and what it adds
    // joins the reply.
    void run_reply_chain(int s, std::size_t body_size);
    boost::asio::awaitable<bool> send_call_failure(const upstream::upstream_error& err, bool too_large);
    boost::asio::awaitable<bool> send_not_grpc(int http_status);
    int note_grpc_status(std::string_view code_text);
    struct grpc_failure {
        std::string message, details;  // decoded: text, a google.rpc.Status's bytes
    };
    static grpc_failure grpc_failure_of(std::string_view message, std::string_view details_bin);
    transcode::bound_values transcode_values_;
    // The call on the exchange's own upstream::call (transcode_stream.cpp): a unary method's
    // answer taken whole, a server-streaming method's relayed as its messages come.
    boost::asio::awaitable<bool> transcode_call(upstream::subrequest sr);
    boost::asio::awaitable<bool> relay_unary(upstream::response_body& body, std::size_t max);
    boost::asio::awaitable<bool> relay_transcoded(upstream::response_body& body, std::size_t max_message);
    bool transcoded_client_left(bool head_sent);
    boost::asio::awaitable<bool> end_transcoded(bool head_sent, int http_status, int code, std::string_view message,
                                                std::string_view details = {});
    boost::asio::awaitable<bool> end_transcoded_stream(upstream::response_body& body, bool head_sent, const transcode::response_stream& stream);
    boost::asio::awaitable<bool> send_transcoded_piece(bool& head_sent, bool end);
    std::string transcode_json_;  // the JSON of the messages a piece completed
    grpc_request_parts transcode_parts_;  // of the call's request text (transcode_subrequest)
    bool transcode_gone_ = false;  // the client left while the stream waited on the upstream

    // The upstream phase.
    class proxied_request final : public upstream::streamed_request {
    public:
        proxied_request(exchange& ex, downstream& d) : streamed_request(d), ex_(ex) {}
        boost::asio::awaitable<upstream::interim_result> interim(const upstream::response_head& head) override;

    private:
        exchange& ex_;
    };
    void prepare_call(const router::compiled_route& r);
    bool buffers_body(const router::compiled_route& r) const;
    boost::asio::awaitable<void> buffer_body();
    void start_call();
    upstream::call_options call_opts_;
    std::shared_ptr<upstream::cluster_state> call_cluster_;
    upstream::call_options call_options_for(const router::compiled_route& r);
    void choose_hash_key(const upstream::cluster& def, upstream::call_options& o) const;
    void note_upgrade(const router::compiled_route& r);
    std::size_t choose_upstream(const router::compiled_route& r);
    void maybe_mirror(const router::compiled_route& r);
    void note_call();
    void note_local_error(const upstream::upstream_error& err);
    boost::asio::awaitable<bool> fail_upstream(const upstream::upstream_error& err);
    std::string failure_message(const upstream::upstream_error& err);
    boost::asio::awaitable<bool> relay();
    boost::asio::awaitable<bool> relay_body(upstream::response_body& body);
    struct whole_response {
        const response_head* head = nullptr;
        std::string_view data;
    };
    whole_response prepare_whole(upstream::response_body& body, std::string_view bytes);
    whole_response prepare_whole(int status, std::string_view reason, field_list fields, std::optional<std::uint64_t> length,
                                 std::string_view bytes);
    boost::asio::awaitable<bool> relay_checked(upstream::response_body& body);
    void copy_response_head(const upstream::response_head& h);
    struct {
        int status = 0;
        std::string_view reason;
        std::string store;
    } checked_head_;  // a body_check's response: the head, owned while its body is gathered
    std::vector<field> checked_fields_;
    std::string checked_body_;
    boost::asio::awaitable<bool> relay_replacement(upstream::response_body& body);
    const trailers& response_trailers(upstream::response_body& body);
    upstream::response_head up_head_;  // the upstream's (its field vector reused)
    std::optional<upstream::call> call_;
    std::size_t chosen_upstream_ = 0;
    std::string upgrade_;  // the Upgrade value of a request the route lets through (else empty)
    net::clock::duration relay_idle_{};
    bool is_head_ = false;
    std::string relay_buf_, filter_buf_;  // decoded body pieces; a body filter's output
    trailers trailers_view_;
    std::vector<field> trailer_out_;
    std::vector<std::pair<std::string, std::string>> trailer_added_, fail_fields_;

    struct forwarded_claims;
    void rewrite_path(const router::compiled_route& r);
    void keep_client_fields(forwarded_claims& claims);
    void add_gatehouse_fields(const forwarded_claims& claims);
    bool removed_by_middleware(std::string_view name) const;
    bool is_identity_field(std::string_view name) const;
    forwarded_request forwarded_;
    void keep_upstream_fields(field_list fields, bool chain_edits);
    response_head relayed_;
    std::vector<std::uint32_t> relayed_kept_;
    std::vector<field> relayed_added_;
    std::string query_buf_, traceparent_;
    std::string rewrite_buf_;  // rewrite.path is built here: the variables it uses are views into `path`

    session_host& w_;
    const net::listener_state& listener_;
    downstream& d_;
    proxied_request sender_{*this, d_};
    // gRPC-Web translated to gRPC (routes[].grpc_web, grpc_web.cpp): the request's content-type
    // and (text mode) body, the response's content-type and body with the trailers in it.
    bool grpc_web_ = false;
    std::string web_content_type_, web_buf_;
    grpc_web_body web_body_;
    std::optional<grpc::web_response_encoder> web_out_;
    void translate_grpc_web(forwarded_request& f);
    void grpc_web_head(field_list fields);
    std::string_view grpc_web_piece(std::string_view data, bool last, const trailers& t);
    boost::asio::awaitable<bool> end_past_duration(const response_head* unsent, bool at_boundary);
    chain_calls chain_calls_{*this, w_, snap};  // mctx.upstream
    char rid_buf_[32];
    std::string rid_store_;
    std::vector<field> reply_fields_;
    std::string reply_body_, reply_scratch_;
    int reply_status_ = 0;
};

}  // namespace gatehouse::http
