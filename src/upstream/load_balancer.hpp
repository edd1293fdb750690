#pragma once
// Load-balancing policies. The ring is immutable and built with the snapshot; balancer_state is
// one worker's mutable cursor (round-robin position, smooth-weighted counters, random state), so
// picking an endpoint never touches memory another worker writes.
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gatehouse/config/config.hpp"

namespace gatehouse::upstream {

constexpr std::size_t k_no_endpoint = static_cast<std::size_t>(-1);

// Peak EWMA (Finagle's and Linkerd's latency-aware balancing): an endpoint's latency estimate
// jumps at once to an observation slower than itself and moves toward faster ones, and the whole
// estimate decays toward zero with time constant `decay` (an endpoint not chosen for a while is
// tried again). One per endpoint and worker: no sharing.
struct latency_estimate {
    using clock = std::chrono::steady_clock;
    double cost_ns = 0;
    clock::time_point at{};
    void observe(double rtt_ns, clock::time_point now, double decay_ns);
    double estimate(clock::time_point now, double decay_ns) const;
};

struct endpoint_load {
    std::uint32_t weight = 1;
    std::uint32_t inflight = 0;                 // requests this worker has outstanding on the endpoint
    bool usable = true;                         // false when its pool is full
    const latency_estimate* latency = nullptr;  // peak_ewma
};

// Consistent hashing: each endpoint owns 160 x weight points on a 64-bit ring, placed by its key
// (its address), so an endpoint keeps its points when others join or leave the set. Without
// keys, points are placed by index.
class hash_ring {
public:
    hash_ring() = default;
    explicit hash_ring(std::span<const std::uint32_t> weights, std::span<const std::string> keys = {});
    std::size_t lookup(std::uint64_t hash) const;  // endpoint index owning the next point
    bool empty() const { return points_.empty(); }

private:
    std::vector<std::pair<std::uint64_t, std::uint32_t>> points_;
};

std::uint64_t hash64(std::string_view data);

class balancer_state {
public:
    balancer_state(config::lb_config cfg, std::size_t endpoints, std::uint64_t seed);
    // Picks a usable endpoint; k_no_endpoint when none is usable. `ring` and `key` are used by
    // ring_hash (has_key false falls back to random).
    // `weights_vary`: endpoints' weights differ for now (slow start), so round_robin balances
    // by weight (smooth weighted) until they are even again.
    std::size_t pick(std::span<const endpoint_load> eps, const hash_ring* ring, std::uint64_t key, bool has_key, bool weights_vary = false);

private:
    std::uint64_t next_random();
    std::size_t first_usable_from(std::span<const endpoint_load> eps, std::size_t start) const;
    template <class Load>
    std::size_t two_choices(std::span<const endpoint_load> eps, Load load);

    config::lb_config cfg_;
    std::size_t rr_ = 0;
    std::vector<std::int64_t> current_;  // smooth weighted round robin (nginx's algorithm)
    std::uint64_t rng_;
};

}  // namespace gatehouse::upstream
