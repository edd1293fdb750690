#pragma once
// Named Redis stores (`redis:` in the config), shared by the middleware that need one (the
// rate limiter's shared mode). A store lives in an identity registry: a reload that keeps its
// settings keeps its connections. Each worker talks to Redis over its own connection(s), on its
// own event loop; commands from one worker are pipelined on its connection, a command never
// waits past `timeout`, and after a few failures a breaker stops sending commands (callers fall
// back at once) and probes with PING in the background until Redis answers again.
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"
#include "redis/resp.hpp"

namespace gatehouse::middleware {
class call_tracer;
}
namespace boost::asio {
class io_context;
}

namespace gatehouse::redis {

struct address {
    std::string text;  // as configured
    std::string host;  // host name or IP literal (tcp)
    std::uint16_t port = 6379;
    std::string unix_path;  // unix:/path
};

struct store_spec {
    std::string name;
    std::vector<address> addresses;  // tried in order, the next one after a failure
    std::string username, password, password_file;
    std::chrono::milliseconds timeout{20};
    std::size_t connections_per_worker = 1;
    std::string key_prefix = "gatehouse:";
    config::source_mark mark;
    std::string identity() const;
};

// The `redis:` section. Diagnostics at each entry; only valid entries are returned.
std::vector<store_spec> parse_stores(const YAML::Node& section, const std::string& path, config::diagnostics& d,
                                     std::vector<std::string>* watched = nullptr);

struct result {
    enum class status { ok, error, timeout, unavailable } st = status::unavailable;
    value reply;        // ok (may itself be a RESP error: see reply.is_error())
    std::string error;  // otherwise
    bool ok() const { return st == status::ok; }
};

class connection;

// Figures of one store over all workers, for metrics and the admin API.
struct store_stats {
    std::atomic<std::uint64_t> ok{0}, errors{0}, timeouts{0}, unavailable{0};
    static constexpr std::array<double, 10> k_bounds{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0};  // seconds
    std::array<std::atomic<std::uint64_t>, k_bounds.size() + 1> latency{};  // per bucket (last: +Inf)
    std::atomic<std::uint64_t> latency_sum_us{0};
    void observe(std::chrono::nanoseconds d);
};

class store {
public:
    store(store_spec spec, std::size_t workers);
    ~store();
    const store_spec& spec() const { return spec_; }
    store_stats& stats() { return stats_; }

    // On worker `worker`'s thread only: runs one command (an encoded RESP array) on one of that
    // worker's connections, waiting at most until `until` and never longer than `timeout`.
    // status::unavailable at once when the breaker is open. With `trace` (a traced request), the
    // command is a CLIENT span of that request (docs/observability.md, "Tracing").
    boost::asio::awaitable<result> call(std::size_t worker, boost::asio::io_context& ioc, std::string command,
                                        std::chrono::steady_clock::time_point until, middleware::call_tracer* trace = nullptr);
    // On worker `worker`'s thread: false while its breaker is open (callers fall back at once).
    bool available(std::size_t worker) const;
    // "shared" while every worker that has talked to Redis can, else "fallback" (any thread).
    bool all_available() const;
    nlohmann::json status() const;

private:
    connection& conn_for(std::size_t worker, boost::asio::io_context& ioc);
    static void record_call(middleware::call_tracer& trace, const result& r, std::string_view operation, const address& to,
                            std::chrono::steady_clock::time_point started);
    store_spec spec_;
    store_stats stats_;
    struct alignas(64) worker_conns {
        std::vector<std::shared_ptr<connection>> conns;
        std::size_t next = 0;
        std::atomic<bool> open{false};  // mirrors the breaker of this worker's connections, for all_available()
    };
    std::vector<worker_conns> workers_;
    friend class connection;
};

// One store per identity (registry): the same object across reloads that keep its settings.
std::shared_ptr<store> get_store(const store_spec& spec, std::size_t workers);
std::vector<std::shared_ptr<store>> all_stores();

}  // namespace gatehouse::redis
