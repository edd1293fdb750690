#include <gtest/gtest.h>

#include <map>

#include "upstream/load_balancer.hpp"

using namespace gatehouse;
using upstream::endpoint_load;

namespace {
config::lb_config policy(config::lb_policy p) {
    config::lb_config c;
    c.policy = p;
    return c;
}
}  // namespace

TEST(LoadBalancer, RoundRobinCyclesAndSkipsUnusable) {
    upstream::balancer_state s(policy(config::lb_policy::round_robin), 3, 0);
    std::vector<endpoint_load> eps(3);
    std::vector<std::size_t> picks;
    for (int i = 0; i < 6; ++i) picks.push_back(s.pick(eps, nullptr, 0, false));
    EXPECT_EQ(picks, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
    eps[1].usable = false;
    for (int i = 0; i < 4; ++i) EXPECT_NE(s.pick(eps, nullptr, 0, false), 1u);
    for (auto& e : eps) e.usable = false;
    EXPECT_EQ(s.pick(eps, nullptr, 0, false), upstream::k_no_endpoint);
}

TEST(LoadBalancer, WeightedIsSmoothAndExact) {
    upstream::balancer_state s(policy(config::lb_policy::weighted), 3, 0);
    std::vector<endpoint_load> eps{{5, 0, true}, {1, 0, true}, {1, 0, true}};
    std::vector<std::size_t> picks;
    for (int i = 0; i < 7; ++i) picks.push_back(s.pick(eps, nullptr, 0, false));
    // nginx's smooth weighted round robin for 5:1:1 is a a b a c a a.
    EXPECT_EQ(picks, (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(LoadBalancer, RandomRespectsWeights) {
    upstream::balancer_state s(policy(config::lb_policy::random), 2, 42);
    std::vector<endpoint_load> eps{{3, 0, true}, {1, 0, true}};
    int counts[2] = {};
    for (int i = 0; i < 40000; ++i) ++counts[s.pick(eps, nullptr, 0, false)];
    EXPECT_NEAR(counts[0] / 40000.0, 0.75, 0.02);
}

TEST(LoadBalancer, LeastRequestPrefersTheLessLoaded) {
    upstream::balancer_state s(policy(config::lb_policy::least_request), 2, 7);
    std::vector<endpoint_load> eps{{1, 100, true}, {1, 0, true}};
    int idle = 0;
    for (int i = 0; i < 1000; ++i) idle += s.pick(eps, nullptr, 0, false) == 1;
    // With two random choices the busy one wins only when both choices land on it (~1/4).
    EXPECT_GT(idle, 650);
}

TEST(LoadBalancer, RingHashIsStableAndMovesLittle) {
    std::vector<std::uint32_t> w3{1, 1, 1}, w4{1, 1, 1, 1};
    upstream::hash_ring r3(w3), r4(w4);
    upstream::balancer_state s(policy(config::lb_policy::ring_hash), 3, 1);
    std::vector<endpoint_load> eps(3);
    std::map<std::size_t, int> spread;
    int moved = 0;
    for (int i = 0; i < 3000; ++i) {
        auto key = upstream::hash64("user-" + std::to_string(i));
        auto a = s.pick(eps, &r3, key, true);
        EXPECT_EQ(a, s.pick(eps, &r3, key, true));
        ++spread[a];
        if (r4.lookup(key) != a) ++moved;
    }
    for (auto& [ep, n] : spread) EXPECT_GT(n, 700) << ep;  // roughly even
    EXPECT_LT(moved, 1100);                                // adding a fourth endpoint moves about a quarter of the keys
}

TEST(LoadBalancer, RingHashSkipsUnusableEndpoint) {
    std::vector<std::uint32_t> w{1, 1};
    upstream::hash_ring r(w);
    upstream::balancer_state s(policy(config::lb_policy::ring_hash), 2, 1);
    std::vector<endpoint_load> eps(2);
    auto key = upstream::hash64("k");
    auto a = s.pick(eps, &r, key, true);
    eps[a].usable = false;
    EXPECT_EQ(s.pick(eps, &r, key, true), 1 - a);
}
