#pragma once
// The access log: one line per request, JSON by default or a configurable field list, written by
// spdlog async loggers. Each worker has its own logger and writer thread with a bounded queue,
// so a worker never waits on another worker or on the disk: when a queue is full the oldest
// batch is dropped and counted (gatehouse_access_log_dropped_total). A worker hands lines over in
// batches of k_batch_lines (or whatever it has at its 100 ms tick): one queue operation and at
// most one writer wake-up per batch instead of per request.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace gatehouse::observability {

struct request_log_entry {
    std::chrono::system_clock::time_point time;
    std::string_view request_id, trace_id, client, method, host, path, query, route, upstream, upstream_address, user_agent, tls_version,
        jwt_subject;
    int status = 0;
    std::uint64_t request_bytes = 0, response_bytes = 0;
    double duration_ms = 0;
    double upstream_duration_ms = -1;  // < 0: no upstream involved
    int upstream_status = 0;           // the upstream's own status (0: none came)
    std::string_view error_source;     // who made an error answer: "gatehouse", "upstream", "client" (empty: no error)
    int upstream_attempts = 0;         // tries sent to the upstream (1 + retries)
    std::string_view protocol;         // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
    std::string_view compose_calls;    // a composition's calls: "name:status:12ms[:reason],..." (empty: none)
    std::string_view grpc_method;       // a translated call's gRPC method ("/pkg.Service/Method"; empty: none)
    int grpc_status = -1;              // a gRPC request's status (trailers, a Trailers-Only head, or mapped); -1: not gRPC
};

class access_log {
public:
    access_log(const config::access_log_config& cfg, std::size_t workers);
    ~access_log();

    // True when this request should be logged (sampling), given a uniform random number.
    bool sampled(std::uint64_t random) const { return sample_threshold_ == ~0ull || random < sample_threshold_; }
    static constexpr std::size_t k_batch_lines = 32;
    void write(std::size_t worker, const request_log_entry& e);
    // Hands the worker's pending lines to its writer (the worker's tick, a reload, shutdown).
    void submit(std::size_t worker);
    std::uint64_t dropped() const;  // lines, counted in whole batches
    void flush();
    const std::string& identity() const { return identity_; }
    static std::string identity_of(const config::access_log_config& cfg);

    // Formats one line (exposed for tests).
    static void format(const request_log_entry& e, const std::vector<int>& fields, bool json, std::string& out);

private:
    std::string identity_;
    std::vector<int> fields_;  // indices into config::access_log_field_names()
    bool json_;
    std::uint64_t sample_threshold_;
    struct alignas(64) pending {
        std::string lines;
        std::size_t count = 0;
    };
    std::vector<pending> pending_;  // per worker, touched only by that worker
    std::vector<std::shared_ptr<spdlog::details::thread_pool>> pools_;
    std::vector<std::shared_ptr<spdlog::logger>> loggers_;
};

}  // namespace gatehouse::observability
