#pragma once
#include <functional>
// JWT providers: who issues tokens (issuer, audiences, allowed algorithms) and where their keys
// come from (inline JWKs or PEM, a JWKS file, or a JWKS URL fetched in the background on the
// control thread). A provider's key store outlives config snapshots: it is shared by identity,
// so a reload that keeps a provider keeps its fetched keys.
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include "gatehouse/config/diagnostics.hpp"
#include "gatehouse/middleware/middleware.hpp"
#include "middleware/jwt/jose.hpp"
#include "middleware/jwt/jwks_fetch.hpp"

namespace YAML {
class Node;
}
namespace boost::asio {
class io_context;
}

namespace gatehouse::middleware::jwt {

using duration = std::chrono::milliseconds;

struct provider_spec {
    std::string name;
    std::string issuer;
    std::vector<std::string> audiences;
    std::vector<alg> algorithms;  // allow-list; empty = every algorithm the keys support
    std::string jwks_url;         // or (http:// or https://)
    std::string jwks_ca;          // CA bundle for an https:// URL; default: the system trust store
    std::string jwks_file;        // or
    std::string jwks_text;        // inline keys / file content, as a JWKS document
    std::vector<std::string> pems;
    duration cache_duration{std::chrono::minutes(10)};
    duration refetch_interval{std::chrono::seconds(1)};  // at most one unknown-kid refetch per this
    duration kid_wait{std::chrono::seconds(2)};          // how long a token with an unknown kid waits
    duration clock_skew{std::chrono::seconds(60)};
    bool require_expiration = true;
    std::optional<duration> max_lifetime;
    std::string identity() const;
};

// Parses jwt_providers[] (validation with diagnostics). Reads JWKS files (their content becomes
// part of the provider's identity, so a changed file means new keys).
std::vector<provider_spec> parse_providers(const YAML::Node& section, const std::string& path, config::diagnostics& d,
                                           std::vector<std::string>* files = nullptr);

struct key_set {
    std::vector<verify_key> keys;
};

class provider : public std::enable_shared_from_this<provider> {
public:
    provider(provider_spec spec, std::size_t workers, boost::asio::io_context* control);
    ~provider();
    const provider_spec& spec() const { return spec_; }

    // This worker's view of the keys (refreshed lock-free unless they changed). Valid until the
    // same worker calls keys() again.
    const key_set& keys(std::size_t worker);
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    // An unknown kid: ask for a refetch (rate-limited; any thread). `trace`: the asking request's
    // recorder (call_tracer::detach), for the fetch's CLIENT span.
    void request_refetch(std::function<void(const client_call&)> trace = {});
    // Calls `wake` once (from the control thread) when the next fetch has ended, with new keys
    // or not; a request waiting for a rotated key waits for that event, not on a polling timer.
    void notify_after_fetch(std::function<void()> wake);
    nlohmann::json status() const;  // admin API

    // Validation outcomes, sharded per worker (bounded set of results).
    static constexpr std::size_t k_results = 16;
    static const char* result_name(std::size_t i);
    void count(std::size_t worker, std::size_t result) {
        auto& c = counters_[worker].v[result];
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    std::uint64_t total(std::size_t result) const {
        std::uint64_t n = 0;
        for (auto& c : counters_) n += c.v[result].load(std::memory_order_relaxed);
        return n;
    }
    void start();  // begins fetching (URL sources), control thread

private:
    void set_keys(std::vector<verify_key> keys, std::string source);
    void fetch();
    void schedule(duration after);
    void fetch_done(jwks_fetch_result r);
    void trace_fetch(const jwks_fetch_result& r, std::string_view error_type);

    provider_spec spec_;
    boost::asio::io_context* control_;
    struct alignas(64) slot {
        std::uint64_t generation = ~0ull;
        std::shared_ptr<const key_set> keys;
    };
    std::vector<slot> slots_;
    std::atomic<std::uint64_t> generation_{0};
    mutable std::mutex mu_;
    std::vector<std::function<void()>> fetch_waiters_;  // under mu_
    void wake_fetch_waiters();
    std::shared_ptr<const key_set> current_;
    std::string last_result_ = "never fetched";
    std::chrono::system_clock::time_point last_fetch_{};
    std::chrono::steady_clock::time_point last_refetch_request_{};
    duration backoff_{std::chrono::seconds(1)};
    bool fetching_ = false;
    bool refetch_pending_ = false;
    // Control thread: the span recorder of the fetch in flight and of the next one (null: none).
    std::function<void(const client_call&)> fetch_trace_, next_trace_;
    std::chrono::steady_clock::time_point fetch_started_{};
    struct fetch_state;
    std::unique_ptr<fetch_state> fetch_;
    std::shared_ptr<ssl_ctx_st> tls_;  // for an https:// JWKS URL
    struct alignas(64) counter_block {
        std::array<std::atomic<std::uint64_t>, k_results> v{};
    };
    std::vector<counter_block> counters_;
};

// gatehouse_jwt_validations_total samples: {provider, result}.
std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, double>> validation_samples();

// Providers by identity, shared across snapshots (control thread).
std::shared_ptr<provider> get_provider(const provider_spec& spec, std::size_t workers, boost::asio::io_context* control);
nlohmann::json providers_status();

}  // namespace gatehouse::middleware::jwt
