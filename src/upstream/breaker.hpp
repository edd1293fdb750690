#pragma once
// The circuit breaker of one upstream, shared by every worker: closed -> open -> half_open ->
// closed. Lock-free: the state, the open instant, the probe counts and a sliding window of
// outcome buckets are atomics, so a request reads one atomic to pass a closed breaker and adds
// to two counters when it ends. Time is passed in (steady clock), so tests need no sleeping.
//
// The window is `k_buckets` buckets of window/k_buckets each; a bucket is reset by the first
// outcome that lands in it after it went out of the window (a racing outcome in the same
// instant may be lost: a rate, not a ledger).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "gatehouse/config/config.hpp"

namespace gatehouse::upstream {

enum class breaker_state : std::uint8_t { closed = 0, open = 1, half_open = 2 };
const char* to_string(breaker_state s);

class circuit_breaker {
public:
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr std::size_t k_buckets = 10;

    explicit circuit_breaker(const config::breaker_config& cfg) : cfg_(cfg) {}

    enum class admission : std::uint8_t { pass, probe, reject };
    // May a request go to the upstream now? `probe`: it is one of half_open's trial requests and
    // must report its outcome with probe = true.
    admission admit(time_point now);
    // The outcome of a request that admit() let through.
    void record(time_point now, bool failed, bool probe);
    // A probe that ended without an outcome (client gone, a local error): its place is freed.
    void abandon_probe();

    breaker_state state() const { return static_cast<breaker_state>(state_.load(std::memory_order_acquire)); }
    // How long an open breaker stays open from `now` (zero unless open).
    std::chrono::nanoseconds open_left(time_point now) const;
    time_point since() const { return time_point(std::chrono::nanoseconds(since_ns_.load(std::memory_order_relaxed))); }
    struct window_counts {
        std::uint64_t total = 0, failed = 0;
    };
    window_counts window(time_point now) const;
    std::uint64_t transitions(breaker_state to) const { return transitions_[static_cast<std::size_t>(to)].load(std::memory_order_relaxed); }
    const config::breaker_config& config() const { return cfg_; }

private:
    std::int64_t bucket_of(time_point now) const;
    void move_to(breaker_state from, breaker_state to, time_point now);
    bool trips(time_point now, std::uint32_t consecutive) const;

    config::breaker_config cfg_;
    std::atomic<std::uint8_t> state_{0};
    std::atomic<std::int64_t> since_ns_{0};  // when the current state began
    std::atomic<std::uint32_t> consecutive_{0};
    std::atomic<std::uint32_t> probes_started_{0};
    std::atomic<std::uint32_t> probes_passed_{0};
    struct bucket {
        std::atomic<std::int64_t> index{-1};  // which window slice it counts
        std::atomic<std::uint32_t> total{0}, failed{0};
    };
    std::array<bucket, k_buckets> buckets_;
    std::array<std::atomic<std::uint64_t>, 3> transitions_{};
};

}  // namespace gatehouse::upstream
