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

TEST(LoadBalancer, PeakEwmaJumpsToASlowAnswerAndForgetsIt) {
    using clock = upstream::latency_estimate::clock;
    const double decay = 10e9;  // 10 s
    upstream::latency_estimate e;
    const auto t0 = clock::now();
    e.observe(1e6, t0, decay);  // 1 ms
    EXPECT_DOUBLE_EQ(e.estimate(t0, decay), 1e6);
    e.observe(100e6, t0 + std::chrono::milliseconds(1), decay);  // one slow answer: the peak at once
    EXPECT_DOUBLE_EQ(e.estimate(t0 + std::chrono::milliseconds(1), decay), 100e6);
    e.observe(1e6, t0 + std::chrono::milliseconds(2), decay);  // a fast one right after moves it little
    EXPECT_GT(e.estimate(t0 + std::chrono::milliseconds(2), decay), 99e6);
    // Unobserved for one time constant: e^-1 of it.
    EXPECT_NEAR(e.estimate(t0 + std::chrono::milliseconds(2) + std::chrono::seconds(10), decay), 100e6 / 2.718281828, 0.2e6);
}

TEST(LoadBalancer, PeakEwmaStaysOffTheSlowEndpointAndWeighsQueues) {
    config::lb_config c = policy(config::lb_policy::peak_ewma);
    upstream::balancer_state s(c, 3, 7);
    const auto now = upstream::latency_estimate::clock::now();
    const double decay = std::chrono::duration<double, std::nano>(c.decay).count();
    std::vector<upstream::latency_estimate> lat(3);
    lat[0].observe(2e6, now, decay);
    lat[1].observe(200e6, now, decay);  // the slow replica
    lat[2].observe(2e6, now, decay);
    std::vector<endpoint_load> eps(3);
    for (std::size_t i = 0; i < 3; ++i) eps[i].latency = &lat[i];
    std::map<std::size_t, int> n;
    for (int i = 0; i < 1000; ++i) ++n[s.pick(eps, nullptr, 0, false)];
    EXPECT_EQ(n[1], 0);  // two distinct choices: a fast one is always among them
    EXPECT_GT(n[0], 350);
    EXPECT_GT(n[2], 350);
    // A queue on one fast endpoint: 2 ms x (150 + 1) is more than the slow one's 200 ms x 1.
    eps[0].inflight = 150;
    n.clear();
    for (int i = 0; i < 1000; ++i) ++n[s.pick(eps, nullptr, 0, false)];
    EXPECT_EQ(n[0], 0);
    EXPECT_GT(n[1], 0);
}
