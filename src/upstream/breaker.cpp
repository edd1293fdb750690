#include "upstream/breaker.hpp"

#include "util/time.hpp"

namespace gatehouse::upstream {

const char* to_string(breaker_state s) {
    switch (s) {
        case breaker_state::closed: return "closed";
        case breaker_state::open: return "open";
        case breaker_state::half_open: return "half_open";
    }
    return "closed";
}

std::int64_t circuit_breaker::bucket_of(time_point now) const {
    auto width = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.window).count() / static_cast<std::int64_t>(k_buckets);
    return util::ns_of(now) / std::max<std::int64_t>(1, width);
}

circuit_breaker::admission circuit_breaker::admit(time_point now) {
    auto s = state();
    if (s == breaker_state::closed) return admission::pass;
    if (s == breaker_state::open) {
        if (open_left(now).count() > 0) return admission::reject;
        move_to(breaker_state::open, breaker_state::half_open, now);  // one caller wins; all see half_open
        if (state() != breaker_state::half_open) return state() == breaker_state::closed ? admission::pass : admission::reject;
    }
    // half_open: the first half_open_requests callers are the probes, the rest wait it out.
    if (probes_started_.fetch_add(1, std::memory_order_acq_rel) < cfg_.half_open_requests) return admission::probe;
    probes_started_.fetch_sub(1, std::memory_order_acq_rel);
    return admission::reject;
}

void circuit_breaker::abandon_probe() {
    if (state() == breaker_state::half_open) probes_started_.fetch_sub(1, std::memory_order_acq_rel);
}

void circuit_breaker::record(time_point now, bool failed, bool probe) {
    if (probe) {
        if (state() != breaker_state::half_open) return;
        if (failed) move_to(breaker_state::half_open, breaker_state::open, now);
        else if (probes_passed_.fetch_add(1, std::memory_order_acq_rel) + 1 >= cfg_.half_open_requests)
            move_to(breaker_state::half_open, breaker_state::closed, now);
        return;
    }
    if (state() != breaker_state::closed) return;  // began before the breaker opened: not counted
    auto idx = bucket_of(now);
    auto& b = buckets_[static_cast<std::size_t>(idx) % k_buckets];
    auto seen = b.index.load(std::memory_order_acquire);
    if (seen != idx && b.index.compare_exchange_strong(seen, idx, std::memory_order_acq_rel)) {
        b.total.store(0, std::memory_order_relaxed);
        b.failed.store(0, std::memory_order_relaxed);
    }
    b.total.fetch_add(1, std::memory_order_relaxed);
    std::uint32_t consecutive = 0;
    if (failed) {
        b.failed.fetch_add(1, std::memory_order_relaxed);
        consecutive = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
    } else {
        if (consecutive_.load(std::memory_order_relaxed) != 0) consecutive_.store(0, std::memory_order_relaxed);
        return;  // a success never trips it
    }
    if (trips(now, consecutive)) move_to(breaker_state::closed, breaker_state::open, now);
}

bool circuit_breaker::trips(time_point now, std::uint32_t consecutive) const {
    if (cfg_.consecutive_failures > 0 && consecutive >= cfg_.consecutive_failures) return true;
    auto w = window(now);
    return w.total >= cfg_.min_requests && static_cast<double>(w.failed) >= cfg_.failure_rate * static_cast<double>(w.total);
}

circuit_breaker::window_counts circuit_breaker::window(time_point now) const {
    window_counts c;
    auto idx = bucket_of(now);
    for (auto& b : buckets_) {
        auto i = b.index.load(std::memory_order_acquire);
        if (i < 0 || i <= idx - static_cast<std::int64_t>(k_buckets) || i > idx) continue;
        c.total += b.total.load(std::memory_order_relaxed);
        c.failed += b.failed.load(std::memory_order_relaxed);
    }
    return c;
}

std::chrono::nanoseconds circuit_breaker::open_left(time_point now) const {
    if (state() != breaker_state::open) return std::chrono::nanoseconds(0);
    auto left = since() + cfg_.open_for - now;
    return std::max(std::chrono::duration_cast<std::chrono::nanoseconds>(left), std::chrono::nanoseconds(0));
}

void circuit_breaker::move_to(breaker_state from, breaker_state to, time_point now) {
    auto expected = static_cast<std::uint8_t>(from);
    if (state_.load(std::memory_order_acquire) != expected) return;
    // What the next state reads is set before it becomes visible: the open instant (a racing
    // admit() must not see the new state with the old instant) and, on opening, zero probes for
    // the half_open that follows. A racer doing the same transition writes the same values.
    if (to == breaker_state::open) {
        probes_passed_.store(0, std::memory_order_relaxed);
        probes_started_.store(0, std::memory_order_relaxed);
    }
    since_ns_.store(util::ns_of(now), std::memory_order_release);
    if (!state_.compare_exchange_strong(expected, static_cast<std::uint8_t>(to), std::memory_order_acq_rel)) return;
    if (to == breaker_state::closed) {
        consecutive_.store(0, std::memory_order_relaxed);
        for (auto& b : buckets_) b.index.store(-1, std::memory_order_relaxed);
    }
    transitions_[static_cast<std::size_t>(to)].fetch_add(1, std::memory_order_relaxed);
}

}  // namespace gatehouse::upstream
