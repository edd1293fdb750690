#pragma once
// Spans of sampled requests (docs/observability.md "Tracing"): one SERVER span per request, one
// CLIENT span per upstream try. A worker records into its own bounded ring (one producer, the
// worker; one consumer, the control thread's exporter): no lock and, once the ring's slots have
// grown their strings, no allocation on the request path. A full ring drops the span and counts it.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"

struct ssl_ctx_st;

namespace gatehouse::observability {

enum class span_kind : std::uint8_t { server = 2, client = 3 };  // OTLP Span.SpanKind

struct span_record {
    char trace_id[32]{};  // lower-case hex, as in traceparent
    char span_id[16]{};
    char parent_id[16]{};
    bool has_parent = false;
    bool error = false;  // status ERROR (5xx, a failed try); otherwise UNSET
    span_kind kind = span_kind::server;
    std::uint64_t start_ns = 0, end_ns = 0;  // Unix time
    int status_code = 0;                     // http.response.status_code (0: none)
    int resend = 0;                          // http.request.resend_count (CLIENT: the try's number)
    std::uint16_t server_port = 0, peer_port = 0;
    std::string method, route, url_path, url_query, url_scheme, server_address, client_address, peer_address, upstream, error_type;
    // A middleware's external call (CLIENT): a database command (db_system set) or an HTTP GET
    // (url_full). A CLIENT span's server.address is server_address when set, else peer_address.
    std::string db_system, db_operation, url_full;
};

// Single producer (a worker), single consumer (the exporter). The consumer reads slots in place
// between available() and release(), then gives them back.
class span_ring {
public:
    explicit span_ring(std::size_t capacity);
    bool push(const span_record& r);  // false: full, the span is counted as dropped
    std::size_t available() const { return static_cast<std::size_t>(head_.load(std::memory_order_acquire) - tail_); }
    const span_record& at(std::size_t i) const { return slots_[(tail_ + i) % capacity_]; }
    void release(std::size_t n) { tail_pub_.store(tail_ += n, std::memory_order_release); }
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    std::size_t capacity() const { return capacity_; }

private:
    std::unique_ptr<span_record[]> slots_;
    std::size_t capacity_;
    alignas(64) std::atomic<std::uint64_t> head_{0};  // written by the producer
    std::uint64_t cached_tail_ = 0;                   // the producer's last look at tail_pub_
    std::atomic<std::uint64_t> dropped_{0};           // written by the producer only
    alignas(64) std::atomic<std::uint64_t> tail_pub_{0};
    std::uint64_t tail_ = 0;  // the consumer's own
};

// The rings of one exporter configuration, one per worker; shared by the snapshots that use it.
class tracer : public std::enable_shared_from_this<tracer> {
public:
    tracer(const config::otlp_config& settings, unsigned workers);
    span_ring& ring(unsigned worker) { return *rings_[worker % workers_]; }
    // The control thread's own ring (its only producer): spans of calls made there (JWKS fetches).
    span_ring& control_ring() { return *rings_.back(); }
    const std::vector<std::unique_ptr<span_ring>>& rings() const { return rings_; }
    const config::otlp_config& settings() const { return settings_; }
    std::uint64_t dropped() const;
    static std::string identity_of(const config::otlp_config& c);
    const std::string& identity() const { return identity_; }
    // An https:// endpoint: the TLS client context (its trust loaded once, here); else null.
    const std::shared_ptr<ssl_ctx_st>& tls() const { return tls_; }

private:
    config::otlp_config settings_;
    std::shared_ptr<ssl_ctx_st> tls_;
    std::string identity_;
    unsigned workers_;
    std::vector<std::unique_ptr<span_ring>> rings_;  // one per worker, then the control thread's
};

// Parent-based sampling of a new trace: `ratio` of them, by the top 53 bits of `random`.
inline bool sample_new_trace(double ratio, std::uint64_t random) {
    return ratio >= 1.0 || static_cast<double>(random >> 11) * 0x1p-53 < ratio;
}

std::uint64_t unix_now_ns();

// The CLIENT spans of one upstream call, one per try (upstream::call drives it). The first
// try's span id is the one already written into the request's traceparent; a later try writes
// its own id over it (`span_hex`: the 16 digits in the request bytes) before it is sent.
class client_spans {
public:
    void reset() {  // a new request (the exchange keeps this object from request to request)
        tries_ = 0;
        in_try_ = false;
    }
    void begin_try();
    void end_try(std::string_view error_type, int status, std::string_view endpoint);
    bool in_try() const { return in_try_; }

    span_record record;  // trace id, parent (the SERVER span), method, upstream: set by the exchange
    char* span_hex = nullptr;
    span_ring* ring = nullptr;
    std::uint64_t (*random)(void*) = nullptr;
    void* random_state = nullptr;
    // The SERVER span's start on both clocks: a try's Unix times come from one steady clock read.
    std::uint64_t wall_base_ns = 0;
    std::chrono::steady_clock::time_point steady_base{};

private:
    int tries_ = 0;
    bool in_try_ = false;
    std::chrono::steady_clock::time_point started_{};
};

}  // namespace gatehouse::observability
