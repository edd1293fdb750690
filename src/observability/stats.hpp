#pragma once
// Request-path counters, sharded per worker. A worker only ever writes its own shard (a plain
// load and store, no lock, no atomic read-modify-write, its own cache lines); the scrape on the
// control thread reads every shard and sums. Objects are created on the control thread when a
// snapshot is built, keyed by name, and live as long as the process, so counters survive reloads.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::observability {

// A counter written by one thread and read by others.
struct counter {
    std::atomic<std::uint64_t> v{0};
    void add(std::uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(std::uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    std::uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

// Methods as a bounded label: anything else is OTHER.
inline constexpr std::array<std::string_view, 10> k_methods{"GET",   "HEAD",    "POST",  "PUT",     "DELETE",
                                                            "PATCH", "OPTIONS", "TRACE", "CONNECT", "OTHER"};
std::size_t method_slot(std::string_view method);

// The client's protocol as a bounded label (HTTP/1.0 counts as HTTP/1.1).
inline constexpr std::array<std::string_view, 2> k_protocols{"HTTP/1.1", "HTTP/2"};
inline std::size_t protocol_slot(std::string_view protocol) { return protocol == "HTTP/2" ? 1 : 0; }

// Status codes as a bounded label: the registered codes by value, others by class ("5xx").
inline constexpr std::array<int, 49> k_codes{100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 307, 308, 400,
                                             401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
                                             421, 422, 425, 426, 428, 429, 431, 451, 499, 500, 501, 502, 503, 504, 505};
inline constexpr std::size_t k_code_slots = k_codes.size() + 5;
std::size_t code_slot(int status);
std::string code_label(std::size_t slot);

// Latency buckets (seconds) for every duration histogram.
inline constexpr std::array<double, 14> k_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct histogram_shard {
    std::array<counter, k_buckets.size() + 1> buckets;  // non-cumulative; last = +Inf
    counter sum_ns;
    void observe(std::uint64_t ns) {
        std::size_t i = 0;
        double s = static_cast<double>(ns) * 1e-9;
        while (i < k_buckets.size() && s > k_buckets[i]) ++i;
        buckets[i].add();
        sum_ns.add(ns);
    }
};

struct alignas(64) route_shard {
    std::array<std::array<std::array<counter, k_code_slots>, k_methods.size()>, k_protocols.size()> requests;
    histogram_shard duration;
    counter request_bytes, response_bytes;
    std::array<counter, 17> grpc_statuses;  // gRPC requests by status (gatehouse_grpc_responses_total)
};

struct alignas(64) upstream_shard {
    std::array<counter, k_code_slots> requests;
    histogram_shard duration;
    counter connect_failures;
    counter pool_active, pool_idle;  // gauges: this worker's connections
    counter pool_pending;            // gauge: requests waiting for a connection
    counter pool_overflow;           // requests answered 503: the pending queue was full or the wait timed out
};

struct alignas(64) listener_shard {
    counter open;  // gauge
    counter total;
    counter tls_handshake_failures;  // includes client certificates that failed verification
    counter rejected;                // closed at accept: a max_connections limit was reached
    counter accept_failures;         // accept() failed for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM)
    counter aborts_request;          // the client left (FIN or RST) while its request was being read or relayed
    counter aborts_response;         // the client left while its response was being written
};

template <class Shard>
struct sharded {
    explicit sharded(std::string n, std::size_t workers) : name(std::move(n)), shards(workers) {}
    std::string name;
    std::vector<Shard> shards;
    Shard& at(std::size_t worker) { return shards[worker]; }
};

using route_stats = sharded<route_shard>;
using upstream_stats = sharded<upstream_shard>;
using listener_stats = sharded<listener_shard>;

}  // namespace gatehouse::observability
