#pragma once
// Batched idle waits (event_loop.batch_wait): a busy worker that runs out of work sleeps for a
// fixed short time before it blocks in epoll_wait, and then handles together the events that
// arrived meanwhile, instead of being woken once for each of them.
//
// Why: a worker that keeps up with its load goes idle between events, and each idle -> busy
// transition costs a context switch on its core plus a cross-core wake-up (an IPI) paid by
// whoever sent the bytes. On this machine's VM that is ~5 us of the worker's CPU per sleep, and
// at 50 keep-alive connections the worker slept 0.85 times per request (docs/benchmarks-history.md,
// session 12). While it naps it is on no wait queue, so peers that send to it wake nobody; after
// the nap one epoll_wait returns several events. NIC drivers do the same with interrupt
// coalescing (ethtool rx-usecs, NAPI's gro_flush_timeout).
//
// Only when it pays: the worker keeps the rate of the events it handles (over the last ten naps'
// worth of time) and naps only when at least two events are expected within the nap (one would
// cost a sleep, as blocking does, and only add latency), and only while naps do find four or
// more on average: a few connections in lock-step make a high rate, yet a nap finds at most one
// event per connection, each of them delayed (measured: 4 connections lost 15 % of their
// throughput to naps that found 2-3). A worker serving a trickle blocks at once, so a lightly
// loaded gateway adds no latency. A nap adds at most batch_wait to the events it batches.
//
// The event loop (our build of Asio's epoll reactor, src/asio_patch) consults the batcher of the
// thread it runs on: a worker installs its own (scope) for the life of its event loop. Header-only:
// the reactor is compiled in the Asio library, below the rest of gatehouse.
#include <sys/prctl.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>

namespace gatehouse::net {

class idle_batch {
public:
    // 0 = off (block at once, as Asio does).
    void set_wait(std::chrono::microseconds w) { wait_ns_ = w.count() > 0 ? static_cast<std::int64_t>(w.count()) * 1000 : 0; }
    std::int64_t wait_ns() const { return wait_ns_; }

    // The event loop: it handled `n` events (any epoll_wait).
    void add_events(int n) { events_ += static_cast<std::uint64_t>(n); }

    // The event loop, about to block at time `now_ns` (monotonic): nap first? The events since
    // the last such point join a count that decays with time constant tau = k_window naps, so
    // count / tau is the recent event rate; a burst within one request (a few events close
    // together) does not make a trickle look busy.
    bool should_wait(std::int64_t now_ns) {
        if (wait_ns_ == 0) {
            events_ = 0;  // off: nothing piles up to make the first naps after a reload look busy
            return false;
        }
        const double dt = static_cast<double>(now_ns > last_ns_ ? now_ns - last_ns_ : 0);
        last_ns_ = now_ns;
        recent_ = recent_ * std::exp(-dt / (static_cast<double>(wait_ns_) * k_window)) + static_cast<double>(events_);
        events_ = 0;
        // rate * wait >= k_min_batch, with rate = recent_ / tau
        if (recent_ < k_min_batch * k_window) return false;
        if (found_ >= k_min_found) return true;
        // Naps have been finding too little: a few connections in lock-step, where a nap delays
        // the very exchanges whose next events it waits for (one sequential client at 10,000
        // requests/s looks busy by its rate, yet each nap finds one event). Try one now and
        // then to notice when the load changes.
        if (++since_probe_ < k_probe_every) return false;
        since_probe_ = 0;
        return true;
    }

    // The event loop: what the epoll_wait right after a nap found (0 if nothing arrived).
    // Smoothed: after naps stopped, a few good probes in a row (~1,000 idle points, tens of
    // milliseconds under load) resume them; one lucky probe with a few connections does not.
    void found_after_wait(int n) { found_ += (static_cast<double>(n > 0 ? n : 0) - found_) * 0.25; }
    bool should_wait() { return should_wait(wait_ns_ > 0 ? monotonic_ns() : 0); }

    // The nap itself (the thread is on no wait queue: senders wake nobody).
    void wait() {
        timespec ts{static_cast<time_t>(wait_ns_ / 1'000'000'000), static_cast<long>(wait_ns_ % 1'000'000'000)};
        ::nanosleep(&ts, nullptr);
        waits_.fetch_add(1, std::memory_order_relaxed);
    }

    // Naps taken (any thread: metrics).
    std::uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }

    // The batcher of the calling thread's event loop (null: none, block at once).
    static idle_batch* current() { return current_; }

    // Installs `b` for the calling thread while in scope. Also sets the thread's timer slack to
    // 1 ns: the default 50 us would stretch a 50 us nap to up to 100.
    class scope {
    public:
        explicit scope(idle_batch* b) : prev_(current_) {
            current_ = b;
            ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        }
        ~scope() { current_ = prev_; }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;

    private:
        idle_batch* prev_;
    };

private:
    static std::int64_t monotonic_ns() {
        timespec ts;
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }

    static constexpr double k_min_batch = 2;        // events expected per nap, or no nap
    static constexpr double k_window = 10;          // the rate's time constant, in naps
    static constexpr double k_min_found = 4;        // events naps must find on average to go on
    static constexpr unsigned k_probe_every = 256;  // idle points between naps while they find too little
    static inline thread_local idle_batch* current_ = nullptr;
    std::int64_t wait_ns_ = 0;
    std::int64_t last_ns_ = 0;
    std::uint64_t events_ = 0;
    double recent_ = 0;           // events, decayed with time constant tau
    double found_ = k_min_found;  // events a nap finds, smoothed (optimistic at first)
    unsigned since_probe_ = 0;
    alignas(64) std::atomic<std::uint64_t> waits_{0};
};

}  // namespace gatehouse::net
