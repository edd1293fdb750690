// net::idle_batch: when a worker that ran out of work naps before blocking (the decision, with
// the clock given), and that an event loop finds the batcher its thread installed.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "net/idle_batch.hpp"

using gatehouse::net::idle_batch;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t us = 1000;  // ns

// Feeds `points` idle points `gap` apart with `events` events before each; the last decision.
bool run(idle_batch& b, std::int64_t& now, int points, std::int64_t gap, int events) {
    bool last = false;
    for (int i = 0; i < points; ++i) {
        now += gap;
        b.add_events(events);
        last = b.should_wait(now);
    }
    return last;
}
}  // namespace

TEST(IdleBatch, NapsOnlyWhenSeveralEventsAreExpectedPerNap) {
    idle_batch b;
    b.set_wait(100us);
    std::int64_t now = 1'000'000 * us;
    // A trickle: one event per 10 ms. Blocking at once; a nap would only add latency.
    EXPECT_FALSE(run(b, now, 20, 10'000 * us, 1));
    // 3 events per 40 us (75 per ms): 7.5 expected per 100 us nap.
    EXPECT_TRUE(run(b, now, 20, 40 * us, 3));
    // One event per 80 us: 1.25 per nap, below the two a nap must batch to pay.
    EXPECT_FALSE(run(b, now, 30, 80 * us, 1));
    // One per 40 us: 2.5 per nap (once the rate has built up over a millisecond or so).
    EXPECT_TRUE(run(b, now, 100, 40 * us, 1));
    // A sequential client's request: four events 20 us apart, then 2 ms of nothing. Bursts
    // like this one must not make a trickle look busy.
    now += 5000 * us;  // the load before has gone
    for (int i = 0; i < 50; ++i) {
        EXPECT_FALSE(run(b, now, 4, 20 * us, 1)) << i;
        now += 2000 * us;
    }
}

TEST(IdleBatch, StopsNappingWhenTheLoadGoes) {
    idle_batch b;
    b.set_wait(100us);
    std::int64_t now = 0;
    ASSERT_TRUE(run(b, now, 20, 30 * us, 2));
    // The load stops: naps that find nothing bring the rate down within about one time
    // constant (ten naps).
    int naps = 0;
    for (int i = 0; i < 40 && b.should_wait(now += 100 * us); ++i) ++naps;
    EXPECT_GT(naps, 0);
    EXPECT_LT(naps, 15);
    EXPECT_FALSE(b.should_wait(now += 100 * us));
}

TEST(IdleBatch, ZeroTurnsItOff) {
    idle_batch b;
    b.set_wait(0us);
    std::int64_t now = 0;
    EXPECT_FALSE(run(b, now, 50, 1 * us, 100));
    // The event loop's path while off: events counted meanwhile do not pile up.
    b.add_events(1'000'000);
    EXPECT_FALSE(b.should_wait());
    b.set_wait(100us);  // a reload turns it on: a trickle still blocks at once
    now += 10'000 * us;
    EXPECT_FALSE(run(b, now, 5, 2000 * us, 1));
    EXPECT_TRUE(run(b, now, 100, 10 * us, 1));
}

TEST(IdleBatch, WaitSleepsAndCounts) {
    idle_batch b;
    b.set_wait(200us);
    const auto t0 = std::chrono::steady_clock::now();
    b.wait();
    b.wait();
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 400us);
    EXPECT_EQ(b.waits(), 2u);
}

TEST(IdleBatch, EachThreadSeesTheBatcherItInstalled) {
    idle_batch mine, theirs;
    EXPECT_EQ(idle_batch::current(), nullptr);
    {
        idle_batch::scope s(&mine);
        EXPECT_EQ(idle_batch::current(), &mine);
        std::thread t([&] {
            EXPECT_EQ(idle_batch::current(), nullptr);
            idle_batch::scope s2(&theirs);
            EXPECT_EQ(idle_batch::current(), &theirs);
        });
        t.join();
        EXPECT_EQ(idle_batch::current(), &mine);
    }
    EXPECT_EQ(idle_batch::current(), nullptr);
}

TEST(IdleBatch, NapsStopWhileTheyFindTooLittleAndProbeNowAndThen) {
    idle_batch b;
    b.set_wait(100us);
    std::int64_t now = 0;
    ASSERT_TRUE(run(b, now, 50, 20 * us, 1));  // 50,000 events/s: open by the rate
    // One sequential client: each nap finds the one event it delayed (a few connections in
    // lock-step find up to as many as there are: fewer than four also stop naps).
    int naps = 0;
    for (int i = 0; i < 2560; ++i) {
        now += 20 * us;
        b.add_events(1);
        if (b.should_wait(now)) {
            ++naps;
            b.found_after_wait(1);
        }
    }
    EXPECT_LE(naps, 10 + 2560 / 256);  // the first few, then one probe per 256 idle points
    EXPECT_GE(naps, 2560 / 256 - 1);
    // Many connections again: probes find several events, and after a few of them naps resume.
    int streak = 0;
    for (int i = 0; i < 3000 && streak < 5; ++i) {
        now += 20 * us;
        b.add_events(1);
        if (b.should_wait(now)) {
            b.found_after_wait(6);
            ++streak;
        } else {
            streak = 0;
        }
    }
    EXPECT_EQ(streak, 5);
}
