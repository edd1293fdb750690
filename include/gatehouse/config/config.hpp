#pragma once
// The typed configuration: what the YAML file says, validated, before it is compiled into a
// snapshot. Keys are documented in docs/configuration.md; they are a public API.
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"
#include "gatehouse/config/discovery_spec.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "gatehouse/config/units.hpp"
#include "gatehouse/util/net.hpp"

namespace gatehouse::compose {
struct compose_config;
}
namespace gatehouse::transcode {
struct transcode_config;
}

namespace gatehouse::config {

using namespace std::chrono_literals;

struct tls_certificate_config {
    std::string cert;  // PEM chain, leaf first
    std::string key;   // PEM private key
};

struct listener_tls_config {
    std::vector<tls_certificate_config> certificates;  // chosen by SNI from each cert's names; the first is the default
    std::string min_version = "1.2";                   // "1.2" or "1.3"
    std::string ciphers;                               // TLS 1.2 cipher list (OpenSSL syntax); empty = a modern default
    std::string ciphersuites;                          // TLS 1.3 suites; empty = OpenSSL's default
    std::string client_ca;                             // mTLS: CA bundle for client certificates
    bool client_auth_required = true;                  // client_auth: require | optional
    std::string subject_header;                        // forwarded identity of a verified client certificate
    std::string sans_header;
    std::string fingerprint_header;
    duration handshake_timeout = 10s;
    // What ALPN offers, in order of preference: the listener's protocols (set by the loader).
    std::vector<std::string> alpn{"h2", "http/1.1"};
    source_mark mark;
};

// admin.auth: a bearer token for every admin endpoint but /-/healthy and /-/ready.
struct admin_auth_config {
    std::string token_file;  // read at load (a trailing newline dropped); watched like certificates
    std::string token;       // its content: compared in constant time (src/admin/admin_auth.hpp)
};

struct admin_config {
    host_port listen{"127.0.0.1", 9901};
    bool enabled = true;
    std::optional<admin_auth_config> auth;
    std::optional<listener_tls_config> tls;  // HTTPS; with client_ca a verified client certificate also authorises
};

// probes: a listener that serves only /-/healthy and /-/ready (Kubernetes probes reach it while
// the admin API stays on loopback or behind its token).
struct probes_config {
    host_port listen;
    source_mark mark;  // of probes.listen
};

// listeners[].http2: the HTTP/2 codec's settings for this listener.
struct http2_config {
    std::uint32_t max_concurrent_streams = 100;
    std::uint32_t initial_stream_window = 64 * 1024;  // each stream's receive window (request bodies)
    std::uint32_t connection_window = 1024 * 1024;    // the connection's receive window
    std::uint32_t max_frame_size = 16 * 1024;         // the largest frame the peer may send
    duration stream_idle_timeout = std::chrono::minutes(5);  // no byte either way on a stream this long -> RST_STREAM
    std::uint64_t max_requests_per_connection = 0;           // 0 = no limit; N -> GOAWAY after N streams
    bool websocket = true;  // offer RFC 8441 extended CONNECT (routes with websocket: true tunnel it)
};

struct listener_config {
    std::string name;
    // Application protocols, in order of preference (TLS: offered by ALPN in this order; plain:
    // h2 = h2c with prior knowledge). Default [h2, http1].
    bool h2 = true, http1 = true;
    bool h2_first = true;
    http2_config http2;
    std::optional<listener_tls_config> tls;
    std::optional<std::uint16_t> https_redirect_port;  // redirect_https: every request -> https://host:port
    int https_redirect_status = 308;
    host_port listen;
    std::vector<util::cidr> trusted_proxies;  // X-Forwarded-* from these peers is kept
    std::uint64_t max_connections = 10000;    // open client connections, all workers; more are closed at accept
    middleware_list middleware;               // default chain for routes reached through it
    source_mark mark;
};

struct limits_config {
    std::uint64_t max_header_bytes = 16384;      // whole request head -> 431
    std::uint64_t max_headers = 100;             // field count -> 431
    std::uint64_t max_request_line = 8192;       // -> 414
    std::uint64_t max_body_bytes = 10ull << 20;  // -> 413
    duration header_timeout = 10s;               // whole head must arrive in this -> 408
    duration body_timeout = 30s;                 // idle between body reads -> 408
    std::uint64_t body_min_rate = 500;           // bytes/s: a body may take body_timeout + 1 s per this many bytes -> 408 (0 = off)
    duration idle_timeout = 60s;                 // keep-alive idle between requests -> close
    duration request_timeout = 15s;              // default upstream response timeout -> 504
    duration upstream_idle_timeout = 60s;        // idle between reads of an upstream response body -> cut
    std::uint64_t max_connections = 50000;       // open client connections, all listeners; more are closed at accept
    std::uint64_t max_memory = 0;                // resident bytes above which new requests get 503 (0 = no limit)
};

struct drain_config {
    duration delay = 0s;     // after SIGTERM: keep accepting (readiness false) this long first
    duration timeout = 30s;  // then in-flight requests get this long
};

enum class path_match { none, exact, prefix, regex, path_template };

// One segment of match.path_template ("/users/{id}/files/{rest=**}"), parsed at load
// (src/config/path_template.cpp).
struct template_segment {
    enum class kind : std::uint8_t { literal, variable, rest } what = kind::literal;
    std::string text;  // the literal segment, or the variable's name
};

// A piece of a value that refers to path variables (rewrite.path): literal text, or the name
// of a variable of the route's template.
struct template_part {
    bool variable = false;
    std::string text;
};

struct match_config {
    std::optional<std::string> host;  // "api.example.com" or "*.example.com" (lower-cased)
    path_match path_kind = path_match::none;
    std::string path;  // exact path, prefix, regex or template source
    std::vector<template_segment> segments;  // path_template, parsed
    std::vector<std::string> methods;
    std::vector<std::pair<std::string, std::string>> headers;               // name lower-cased, exact value
    std::vector<std::pair<std::string, std::optional<std::string>>> query;  // value or presence
};

struct rewrite_config {
    std::optional<std::string> strip_prefix;
    std::optional<std::string> replace_prefix;  // replaces the matched path_prefix
    std::optional<std::string> path;            // the whole path, with {path.NAME} references (as configured)
    std::vector<template_part> path_parts;      // ... parsed
    std::optional<std::string> host;
};

struct respond_config {
    int status = 200;
    std::string body;
    std::string content_type = "text/plain";
    std::vector<std::pair<std::string, std::string>> headers;
};

struct redirect_config {
    int status = 302;
    std::optional<std::string> scheme;
    std::optional<std::string> host;
    std::optional<std::uint16_t> port;
    std::optional<std::string> path;
    bool strip_query = false;
};

// routes[].upstreams: a weighted split (canary, blue/green) between upstreams.
struct split_target {
    std::string upstream;
    std::uint32_t weight = 0;
    source_mark mark;
};
struct split_key {
    enum class kind { none, header, cookie } from = kind::none;
    std::string name;  // header name (lower-case) or cookie name
};

// routes[].mirror: a copy of requests to another upstream, answer ignored.
struct mirror_config {
    std::string upstream;
    double percent = 100;  // of the route's requests
    source_mark mark;
};

// What an upstream attempt ended with, as the breaker's `failure:` and a retry's `on:` name it:
// transport failures by kind, response statuses (one code, or every 5xx), and the gRPC statuses
// of Trailers-Only answers (grpc-status in the response head; bit n: code n).
struct outcome_set {
    enum kind : std::uint8_t { connect_failure = 1, reset = 2, timeout = 4, invalid_response = 8 };
    std::uint8_t kinds = 0;
    bool any_5xx = false;
    std::bitset<200> statuses;  // 400..599
    bool has_status(int s) const {
        return (any_5xx && s >= 500 && s <= 599) || (s >= 400 && s <= 599 && statuses[static_cast<std::size_t>(s - 400)]);
    }
    bool has_kind(kind k) const { return (kinds & k) != 0; }
    std::uint32_t grpc_statuses = 0;
    bool has_grpc_status(int code) const { return code >= 0 && code < 32 && (grpc_statuses >> code & 1u) != 0; }
};

// routes[].retry: which failed attempts are tried again, how often, how fast and how many at once.
struct retry_config {
    std::uint64_t attempts = 2;  // retries after the first try
    outcome_set on;
    std::optional<duration> per_try_timeout;  // each try's response head; the route timeout bounds the whole
    duration backoff_base = 25ms;             // exponential with full jitter
    duration backoff_max = 250ms;
    double budget = 0.2;                      // retries in flight <= this share of requests in flight (all workers)
    std::uint64_t min_retry_concurrency = 3;  // ... but always at least this many
    std::vector<std::string> methods{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"};
    std::uint64_t buffer_body = 64 * 1024;  // bodies up to this are kept for replay; larger ones are never retried
};

// routes[].fallback: the answer when the upstream's breaker is open or it has no usable endpoint.
struct fallback_config {
    std::optional<respond_config> respond;
    std::string upstream;  // or another upstream
    source_mark mark;
};

struct route_config {
    std::string name;
    bool access_log = true;  // per-route switch for the access log
    match_config match;
    std::optional<rewrite_config> rewrite;
    std::optional<respond_config> respond;
    std::optional<redirect_config> redirect;
    std::shared_ptr<const compose::compose_config> compose;  // routes[].compose (compose/compose_config.hpp)
    // routes[].grpc_transcode (transcode/transcode_config.hpp): REST requests to the upstream as gRPC calls
    std::shared_ptr<const transcode::transcode_config> grpc_transcode;
    std::string upstream;             // with `upstreams:`, the first of them
    std::vector<split_target> split;  // `upstreams:` (empty for a single upstream)
    split_key split_on;               // sticky: the same key, the same upstream (weights permitting)
    std::optional<mirror_config> mirror;
    std::vector<std::string> upgrades;  // `websocket: true` / `upgrade: [websocket]`: protocols tunnelled after a 101 (lower-case)
    duration tunnel_idle_timeout = std::chrono::hours(1);
    std::optional<duration> timeout;                // `timeout` or limits.request_timeout: overrides limits.request_timeout
    std::optional<std::uint64_t> max_body_bytes;    // limits.max_body_bytes: overrides the global one
    std::optional<duration> upstream_idle_timeout;  // limits.upstream_idle_timeout: overrides the global one
    // grpc.max_stream_duration: the total limit of a gRPC call on the route (0: none), in place of
    // `timeout`, which would cut long streams; a client's grpc-timeout shortens it.
    duration grpc_max_stream_duration{0};
    bool grpc_web = false;  // gRPC-Web requests are translated to gRPC for the upstream
    std::optional<retry_config> retry;
    std::optional<fallback_config> fallback;
    middleware_list middleware;       // runs after the listener's list, or instead of it
    bool middleware_replace = false;  // middleware_mode: replace
    source_mark mark;
};

enum class lb_policy { round_robin, weighted, random, least_request, ring_hash, peak_ewma };

struct lb_config {
    lb_policy policy = lb_policy::round_robin;
    duration decay = 10s;  // peak_ewma: the time constant over which a latency estimate forgets
    enum class hash_source { client_ip, header } hash_on = hash_source::client_ip;
    std::string hash_header;  // lower-cased
};

struct pool_config {
    std::uint64_t max_connections = 256;  // per endpoint, per worker
    std::uint64_t max_pending = 1024;     // requests waiting for a connection, per upstream, per worker
    duration idle_timeout = 60s;
    duration connect_timeout = 5s;
};

// upstreams[].protocol: how requests go to the endpoints. http1: one request at a time per
// pooled connection; h2: HTTP/2 over TLS (ALPN h2); h2c: HTTP/2 over TCP by prior knowledge. Both
// HTTP/2 forms multiplex a connection's streams (upstream/h2_connection.hpp).
enum class upstream_protocol : std::uint8_t { http1, h2, h2c };

// upstreams[].http2: the HTTP/2 client's settings (protocol h2 or h2c).
struct upstream_http2_config {
    std::uint32_t max_concurrent_streams = 100;       // our own cap per connection (the peer's SETTINGS may lower it)
    std::uint32_t initial_stream_window = 64 * 1024;  // each stream's receive window (response bodies)
    std::uint32_t connection_window = 1024 * 1024;    // the connection's receive window
    duration ping_interval = std::chrono::seconds(60);  // an idle connection is pinged once after this (0 = never)
    duration ping_timeout = std::chrono::seconds(10);   // no PING ACK in this time: the connection is closed
};

struct upstream_tls_config {
    std::string sni;  // server name sent and verified; default: the endpoint's host
    std::string ca;   // CA bundle; default: the system trust store
    bool verify = true;
    std::string client_cert;  // mTLS to the upstream
    std::string client_key;
};

// upstreams[].limits: Envoy's circuit-breaking thresholds, for the upstream over all workers.
struct upstream_limits_config {
    std::uint64_t max_connections = 1024;  // open connections
    std::uint64_t max_pending = 1024;      // requests waiting for a connection
    std::uint64_t max_requests = 1024;     // requests in flight
    std::uint64_t max_retries = 3;         // retries in flight
};

// upstreams[].circuit_breaker: the upstream as a whole, closed -> open -> half_open -> closed.
struct breaker_config {
    double failure_rate = 0.5;  // over the window, once min_requests were seen
    duration window = 10s;      // sliding, time-based
    std::uint64_t min_requests = 20;
    std::uint64_t consecutive_failures = 0;  // 0 = off
    duration open_for = 30s;
    std::uint64_t half_open_requests = 3;
    outcome_set failure;  // default: gateway errors + 5xx
};

// upstreams[].outlier_detection: passive, per endpoint, from real traffic.
struct outlier_config {
    std::uint64_t consecutive_5xx = 5;             // 0 = off
    std::uint64_t consecutive_gateway_errors = 5;  // connect failure, reset, timeout, bad framing; 0 = off
    duration base_ejection_time = 30s;
    duration max_ejection_time = 300s;
    std::uint64_t max_ejection_percent = 50;
};

// upstreams[].health_check: active HTTP checks of every endpoint, off the workers.
struct health_check_config {
    std::string path = "/healthz";
    duration interval = 5s;
    duration timeout = 1s;
    std::uint64_t healthy_threshold = 2;
    std::uint64_t unhealthy_threshold = 3;
    std::vector<std::pair<int, int>> expected_status{{200, 399}};
    std::string host;  // Host header; default: the endpoint's host
    bool start_unhealthy = false;
    std::optional<std::string> grpc_service;  // grpc: { service: NAME }: grpc.health.v1.Health/Check instead of GET path
};

struct upstream_config {
    std::string name;
    std::optional<upstream_tls_config> tls;
    std::shared_ptr<const discovery_spec> discovery;  // where its endpoints come from
    bool wait_for_first = true;                       // readiness waits for its first endpoint set
    duration first_timeout = 10s;                     // ... at most this long
    lb_config load_balancer;
    pool_config pool;
    upstream_protocol protocol = upstream_protocol::http1;
    bool protocol_fallback = false;  // h2: a server that does not pick h2 by ALPN is spoken to in HTTP/1.1
    upstream_http2_config http2;
    upstream_limits_config limits;
    std::optional<breaker_config> circuit_breaker;
    std::optional<outlier_config> outlier_detection;
    std::optional<health_check_config> health_check;
    duration slow_start = 0s;            // a recovered or new endpoint ramps its weight up over this
    std::uint64_t panic_threshold = 50;  // below this % of usable endpoints, balance across all
    source_mark mark;
};

struct reload_config {
    bool watch = true;  // reload when the file changes (inotify)
    duration debounce = 200ms;
};

struct access_log_config {
    bool enabled = false;
    std::string path = "stdout";  // "stdout", "stderr" or a file
    enum class log_format { json, text } format = log_format::json;
    std::vector<std::string> fields;  // empty = every field
    bool include_query = false;
    double sample = 1.0;                           // fraction of requests logged
    std::uint64_t rotate_max_size = 100ull << 20;  // files only; 0 = no rotation
    std::uint64_t rotate_max_files = 5;
    std::uint64_t queue_size = 8192;  // per worker; when full the oldest line is dropped (counted)
};

struct metrics_config {
    bool enabled = true;
};

// event_loop: how a worker waits for events (src/net/idle_batch.hpp).
struct event_loop_config {
    std::chrono::microseconds batch_wait{200};  // a busy worker that ran out of work naps this long before it blocks (0 = off)
    source_mark batch_wait_mark;                // where batch_wait was set (line 0: the default)
};

// tracing.otlp: where sampled spans go (OTLP/HTTP, docs/observability.md "Tracing").
struct otlp_config {
    std::string endpoint;  // http(s)://host:port/path as written
    std::string host, port, target;
    bool https = false;
    std::string tls_ca;   // https: CA bundle the collector's certificate is verified with; default: the system store
    std::string tls_sni;  // https: server name sent and verified; default: the endpoint's host
    enum class encoding_kind { protobuf, json } encoding = encoding_kind::protobuf;
    std::vector<std::pair<std::string, std::string>> headers;   // ${VAR} resolved at load
    std::vector<std::pair<std::string, std::string>> resource;  // resource attributes
    duration timeout = std::chrono::seconds(5);
    std::size_t max_queue = 2048;              // spans held per worker before new ones are dropped
    std::size_t max_batch = 512;               // spans per export request
    duration delay = std::chrono::seconds(5);  // the longest a span waits for its export
};

struct tracing_config {
    bool generate = true;  // start a trace (W3C traceparent) when the client sent none
    double sample = 1.0;   // share of new traces sampled (flag 01); a client's flag is honoured
    std::optional<otlp_config> otlp;
};

// Every field the access log knows, in the default order.
inline const std::vector<std::string>& access_log_field_names() {
    static const std::vector<std::string> names{"time",
                                                "request_id",
                                                "trace_id",
                                                "client",
                                                "method",
                                                "host",
                                                "path",
                                                "query",
                                                "status",
                                                "request_bytes",
                                                "response_bytes",
                                                "duration_ms",
                                                "route",
                                                "upstream",
                                                "upstream_address",
                                                "upstream_duration_ms",
                                                "tls_version",
                                                "user_agent",
                                                "jwt_subject",
                                                "upstream_status",
                                                "error_source",
                                                "upstream_attempts",
                                                "protocol",
                                                "compose_calls",
                                                "grpc_status",
                                                "grpc_method"};
    return names;
}

struct gateway_config {
    std::string file;
    access_log_config access_log;
    metrics_config metrics;
    tracing_config tracing;
    unsigned workers = 0;  // 0 = auto
    event_loop_config event_loop;
    admin_config admin;
    std::optional<probes_config> probes;
    reload_config reload;
    std::vector<listener_config> listeners;
    limits_config limits;
    drain_config drain;
    std::vector<route_config> routes;
    std::vector<upstream_config> upstreams;
};

struct load_result {
    std::optional<gateway_config> config;  // set only when there are no errors
    diagnostics diags;
};

load_result load_file(const std::string& path);
load_result load_string(const std::string& yaml, const std::string& file_name);

}  // namespace gatehouse::config
