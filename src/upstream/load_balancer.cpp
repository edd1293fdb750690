#include "upstream/load_balancer.hpp"

#include <algorithm>
#include <cmath>

namespace gatehouse::upstream {

std::uint64_t hash64(std::string_view data) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, then a murmur finaliser to spread bits
    for (unsigned char c : data) {
        h ^= c;
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

hash_ring::hash_ring(std::span<const std::uint32_t> weights, std::span<const std::string> keys) {
    for (std::uint32_t e = 0; e < weights.size(); ++e) {
        std::uint32_t n = 160 * std::max<std::uint32_t>(1, weights[e]);
        const std::string base = e < keys.size() ? keys[e] : std::to_string(e);
        for (std::uint32_t v = 0; v < n; ++v) {
            std::string key = base + "-" + std::to_string(v);
            points_.emplace_back(hash64(key), e);
        }
    }
    std::sort(points_.begin(), points_.end());
}

std::size_t hash_ring::lookup(std::uint64_t hash) const {
    if (points_.empty()) return k_no_endpoint;
    auto it = std::lower_bound(points_.begin(), points_.end(), std::pair<std::uint64_t, std::uint32_t>{hash, 0});
    if (it == points_.end()) it = points_.begin();
    return it->second;
}

balancer_state::balancer_state(config::lb_config cfg, std::size_t endpoints, std::uint64_t seed)
    : cfg_(std::move(cfg)), current_(endpoints, 0), rng_(seed | 1) {
    rr_ = static_cast<std::size_t>(seed % std::max<std::size_t>(1, endpoints));  // workers start apart
}

std::uint64_t balancer_state::next_random() {
    // xorshift64*: cheap, per worker, good enough for spreading load.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 2685821657736338717ull;
}

void latency_estimate::observe(double rtt_ns, clock::time_point now, double decay_ns) {
    const double decayed = estimate(now, decay_ns);
    if (rtt_ns > decayed) {
        cost_ns = rtt_ns;  // the peak: a slower answer counts at once
    } else {
        const double elapsed = std::chrono::duration<double, std::nano>(now - at).count();
        const double w = std::exp(-std::max(elapsed, 0.0) / decay_ns);
        cost_ns = decayed * w + rtt_ns * (1 - w);
    }
    at = now;
}

double latency_estimate::estimate(clock::time_point now, double decay_ns) const {
    if (cost_ns == 0) return 0;
    const double elapsed = std::chrono::duration<double, std::nano>(now - at).count();
    return cost_ns * std::exp(-std::max(elapsed, 0.0) / decay_ns);
}

// Power of two choices: two different random usable endpoints, the one with the lower load wins
// (two draws of the same endpoint would compare it with itself: a third of the picks among three,
// unbalanced).
template <class Load>
std::size_t balancer_state::two_choices(std::span<const endpoint_load> eps, Load load) {
    const auto n = eps.size();
    const auto first = next_random() % n;
    auto a = first_usable_from(eps, first);
    if (a == k_no_endpoint) return a;
    auto b = n > 1 ? first_usable_from(eps, (first + 1 + next_random() % (n - 1)) % n) : a;
    return load(b) < load(a) ? b : a;
}

std::size_t balancer_state::first_usable_from(std::span<const endpoint_load> eps, std::size_t start) const {
    for (std::size_t k = 0; k < eps.size(); ++k) {
        auto i = (start + k) % eps.size();
        if (eps[i].usable) return i;
    }
    return k_no_endpoint;
}

std::size_t balancer_state::pick(std::span<const endpoint_load> eps, const hash_ring* ring, std::uint64_t key, bool has_key,
                                 bool weights_vary) {
    if (eps.empty()) return k_no_endpoint;
    if (current_.size() != eps.size()) current_.assign(eps.size(), 0);
    auto policy = cfg_.policy == config::lb_policy::round_robin && weights_vary ? config::lb_policy::weighted : cfg_.policy;
    switch (policy) {
        case config::lb_policy::round_robin: {
            auto i = first_usable_from(eps, rr_);
            if (i != k_no_endpoint) rr_ = i + 1;
            return i;
        }
        case config::lb_policy::weighted: {
            std::int64_t total = 0;
            std::size_t best = k_no_endpoint;
            for (std::size_t i = 0; i < eps.size(); ++i) {
                if (!eps[i].usable) continue;
                current_[i] += eps[i].weight;
                total += eps[i].weight;
                if (best == k_no_endpoint || current_[i] > current_[best]) best = i;
            }
            if (best != k_no_endpoint) current_[best] -= total;
            return best;
        }
        case config::lb_policy::random: {
            std::uint64_t total = 0;
            for (auto& e : eps)
                if (e.usable) total += e.weight;
            if (total == 0) return k_no_endpoint;
            std::uint64_t r = next_random() % total;
            for (std::size_t i = 0; i < eps.size(); ++i) {
                if (!eps[i].usable) continue;
                if (r < eps[i].weight) return i;
                r -= eps[i].weight;
            }
            return k_no_endpoint;
        }
        case config::lb_policy::least_request:  // fewer outstanding requests relative to the weight
            return two_choices(eps, [&](std::size_t i) { return static_cast<double>(eps[i].inflight + 1) / eps[i].weight; });
        case config::lb_policy::peak_ewma: {
            // The decayed peak latency times the outstanding requests (+1): a slow replica, or one
            // whose queue grows, stops taking a share it cannot serve. An endpoint not measured
            // yet counts as 1 µs, so it is tried.
            const auto now = latency_estimate::clock::now();
            const double decay = std::chrono::duration<double, std::nano>(cfg_.decay).count();
            return two_choices(eps, [&](std::size_t i) {
                const double cost = eps[i].latency ? eps[i].latency->estimate(now, decay) : 0;
                return std::max(cost, 1000.0) * (eps[i].inflight + 1) / eps[i].weight;
            });
        }
        case config::lb_policy::ring_hash: {
            if (!has_key || !ring || ring->empty()) return first_usable_from(eps, next_random() % eps.size());
            auto i = ring->lookup(key);
            return eps[i].usable ? i : first_usable_from(eps, i + 1);
        }
    }
    return k_no_endpoint;
}

}  // namespace gatehouse::upstream
