#pragma once
// How one upstream request failed: one value that knows where it happened, whether trying
// again is safe, and what the client is told. The phases of an upstream request (pick endpoint
// -> connect -> send -> read head -> relay) return it; retries, and later breakers and outlier
// ejection, are policies over it rather than checks inside the phases.
#include <cstdint>
#include <string_view>

namespace gatehouse::upstream {

enum class failure : std::uint8_t {
    none,
    no_endpoint,   // discovery has no endpoint for the upstream (503)
    pool_full,     // every endpoint at max_connections and the pending queue full or timed out (503)
    breaker_open,  // the upstream's circuit breaker is open (503 + Retry-After)
    over_limit,    // an upstreams[].limits threshold (max_requests, max_connections, max_pending) (503)
    no_healthy,    // every endpoint ejected or failing its health checks, below no panic threshold (503)
    connect,       // TCP connect failed or timed out (502)
    tls,           // TLS handshake with the upstream failed (502)
    write,         // sending the request failed (502)
    closed,        // the upstream closed before a complete response head (502)
    timeout,       // no response head within the route's timeout (504)
    framing,       // the response head broke RFC 9112 framing or field rules (502)
    // The client's side of the request body, not the upstream's fault:
    client_timeout,  // body_timeout between body reads (408)
    client_gone,     // the client went away: nobody to answer
    body_too_large,  // max_body_bytes (413)
    bad_body,        // malformed chunked body (400)
    trailers,        // trailers over their limit (431)
};

// The failure as metrics, logs and spans name it (gatehouse_upstream_failures_total's reason).
constexpr const char* failure_name(failure f) {
    switch (f) {
        case failure::no_endpoint: return "no_endpoint";
        case failure::pool_full: return "pool_full";
        case failure::breaker_open: return "breaker_open";
        case failure::over_limit: return "over_limit";
        case failure::no_healthy: return "no_healthy";
        case failure::connect: return "connect";
        case failure::tls: return "tls";
        case failure::write: return "write";
        case failure::closed: return "closed";
        case failure::timeout: return "timeout";
        case failure::framing: return "invalid_response";
        default: return "other";
    }
}

struct upstream_error {
    failure kind = failure::none;
    // Nothing of the response was received and the connection was a reused keep-alive one:
    // the upstream may have closed it just as we sent (the keep-alive race), so resending on a
    // fresh connection is safe when the request can be replayed.
    bool stale_connection = false;
    std::uint8_t limit = 0;  // over_limit: which one (upstream::limit_kind)

    explicit operator bool() const { return kind != failure::none; }
    // Connect and TLS failures happen before any byte of the request left: another endpoint
    // may always be tried.
    bool nothing_sent() const { return kind == failure::connect || kind == failure::tls; }
    bool from_client() const { return kind >= failure::client_timeout; }
    // Answered by gatehouse without asking the upstream: its own 503s.
    bool local() const { return kind >= failure::no_endpoint && kind <= failure::no_healthy; }
    int status() const {
        switch (kind) {
            case failure::none: return 0;
            case failure::no_endpoint:
            case failure::pool_full:
            case failure::breaker_open:
            case failure::over_limit:
            case failure::no_healthy: return 503;
            case failure::timeout: return 504;
            case failure::client_timeout: return 408;
            case failure::body_too_large: return 413;
            case failure::bad_body: return 400;
            case failure::trailers: return 431;
            case failure::client_gone: return 0;
            default: return 502;
        }
    }
    std::string_view message() const {
        switch (kind) {
            case failure::none: return {};
            case failure::no_endpoint: return "no endpoints available for upstream";
            case failure::pool_full: return "upstream connection pool full";
            case failure::breaker_open: return "upstream circuit breaker open";
            case failure::over_limit: return "upstream limit reached";
            case failure::no_healthy: return "no healthy endpoint for upstream";
            case failure::connect: return "upstream connect failed";
            case failure::tls: return "upstream TLS handshake failed";
            case failure::write: return "upstream write failed";
            case failure::closed: return "upstream closed the connection";
            case failure::timeout: return "upstream response timeout";
            case failure::framing: return "invalid upstream response";
            case failure::client_timeout: return "request body timeout";
            case failure::client_gone: return "client closed the connection";
            case failure::body_too_large: return "request body too large";
            case failure::bad_body: return "malformed chunked body";
            case failure::trailers: return "request trailers too large";
        }
        return {};
    }
};

}  // namespace gatehouse::upstream
