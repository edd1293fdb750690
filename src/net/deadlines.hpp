#pragma once
// Coarse per-worker deadlines. Arming a deadline is two stores; one timer per worker ticks every
// 100 ms and cancels the pending I/O of sockets whose deadline passed. This replaces a steady
// timer per operation (what beast::tcp_stream does), which costs a timer-queue insert and
// removal on every read and write.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <ctime>

namespace gatehouse::net {

using clock = std::chrono::steady_clock;

// steady_clock's epoch (CLOCK_MONOTONIC) at jiffy resolution: a few ns instead of a full
// clock read. Deadlines are coarse anyway (see the tick below).
inline clock::time_point coarse_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return clock::time_point(
        std::chrono::duration_cast<clock::duration>(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

class deadline_list;

class deadline {
public:
    deadline(deadline_list& list, boost::asio::ip::tcp::socket& sock);
    ~deadline();
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;

    void arm(clock::duration d) { arm_until(coarse_now() + d); }
    void arm_until(clock::time_point when) {
        when_ = when;
        fired_ = false;
    }
    void disarm() {
        when_ = clock::time_point::max();
        fired_ = false;
    }
    // True when the last failed operation failed because this deadline cancelled it.
    bool fired() const { return fired_; }
    // Marks the connection as idle between requests: a drain closes it once it has been idle
    // for a moment (see deadline_list::tick).
    void set_idle(bool v) {
        idle_ = v;
        if (v) idle_since_ = coarse_now();
    }
    // Idle since `since`: a connection that moves to another deadline keeps its idle time.
    void set_idle_since(clock::time_point since) {
        idle_ = true;
        idle_since_ = since;
    }
    clock::time_point idle_since() const { return idle_since_; }

private:
    friend class deadline_list;
    deadline_list& list_;
    boost::asio::ip::tcp::socket& sock_;
    clock::time_point when_ = clock::time_point::max();
    bool fired_ = false;
    bool idle_ = false;
    clock::time_point idle_since_{};
    deadline* prev_ = nullptr;
    deadline* next_ = nullptr;
};

// While draining, a keep-alive connection is closed only after it has been idle this long: a
// client that is using it sends its next request sooner and gets an answer with
// Connection: close instead of racing a close (the keep-alive race every HTTP/1.1 server has).
inline constexpr clock::duration k_drain_idle_grace = std::chrono::milliseconds(1000);

class deadline_list {
public:
    // Expires due deadlines; when `draining`, also cancels connections idle for the grace period.
    void tick(clock::time_point now, bool draining);
    std::size_t size() const { return size_; }

private:
    friend class deadline;
    deadline* head_ = nullptr;
    std::size_t size_ = 0;
};

inline deadline::deadline(deadline_list& list, boost::asio::ip::tcp::socket& sock) : list_(list), sock_(sock) {
    next_ = list_.head_;
    if (next_) next_->prev_ = this;
    list_.head_ = this;
    ++list_.size_;
}

inline deadline::~deadline() {
    if (prev_) prev_->next_ = next_;
    else list_.head_ = next_;
    if (next_) next_->prev_ = prev_;
    --list_.size_;
}

inline void deadline_list::tick(clock::time_point now, bool draining) {
    for (auto* d = head_; d; d = d->next_) {
        if ((d->when_ <= now || (draining && d->idle_ && now - d->idle_since_ >= k_drain_idle_grace)) && !d->fired_) {
            d->fired_ = true;
            boost::system::error_code ec;
            d->sock_.cancel(ec);
        }
    }
}

}  // namespace gatehouse::net
