#include "upstream/pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

namespace gatehouse::upstream {

cluster_state::cluster_state(std::shared_ptr<const server::cluster> def, boost::asio::io_context& ioc, net::deadline_list& dl,
                             std::uint64_t seed, std::shared_ptr<observability::upstream_stats> stats, std::size_t worker)
    : def_(std::move(def)), ioc_(ioc), deadlines_(dl), eps_(def_->endpoints.size()), loads_(def_->endpoints.size()), lb_(def_->lb, def_->endpoints.size(), seed),
      stats_(std::move(stats)), worker_(worker) {
    for (std::size_t i = 0; i < loads_.size(); ++i) loads_[i].weight = def_->weights[i];
}

cluster_state::~cluster_state() {
    // Leave the gauges as if every connection were closed (leased ones release after this: none,
    // since a lease holds a reference to its cluster_state).
    gauge_idle(-static_cast<std::int64_t>(idle_count()));
}

std::size_t cluster_state::pick(std::uint64_t key, bool has_key, std::size_t avoid) {
    for (std::size_t i = 0; i < eps_.size(); ++i) {
        loads_[i].inflight = eps_[i].inflight;
        loads_[i].usable = (eps_[i].open < def_->pool.max_connections || !eps_[i].idle.empty()) && i != avoid;
    }
    return lb_.pick(loads_, &def_->ring, key, has_key);
}

std::unique_ptr<upstream_connection> cluster_state::acquire(std::size_t ep, bool fresh) {
    auto& e = eps_[ep];
    auto now = net::coarse_now();
    while (!fresh && !e.idle.empty()) {
        auto c = std::move(e.idle.back());
        e.idle.pop_back();
        gauge_idle(-1);
        if (now - c->idle_since < def_->pool.idle_timeout) {
            c->reused = true;
            ++e.inflight;
            gauge_active(1);
            return c;
        }
        --e.open;  // stale: dropped here, closed by its destructor
    }
    ++e.open;
    ++e.inflight;
    gauge_active(1);
    return std::make_unique<upstream_connection>(ioc_, deadlines_, ep);
}

boost::asio::awaitable<bool> cluster_state::wait_for_room(net::clock::time_point until) {
    waiter w(ioc_);
    w.timer.expires_at(until);
    waiters_.push_back(&w);
    gauge_pending(1);
    co_await w.timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));  // expiry or cancel: the flag says which
    gauge_pending(-1);
    if (w.woken) {
        --woken_;
        co_return true;
    }
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));  // timed out: still queued
    co_return false;
}

void cluster_state::wake_one() {
    if (waiters_.empty()) return;
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->woken = true;
    ++woken_;
    w->timer.cancel();  // its wait completes now (or has completed: the flag decides)
}

void cluster_state::release(std::unique_ptr<upstream_connection> c, bool reusable) {
    auto& e = eps_[c->endpoint];
    --e.inflight;
    gauge_active(-1);
    wake_one();  // runs after this returns: the connection is back (or closed) by then
    if (reusable && !retired_ && c->buf.empty() && c->socket.is_open()) {
        c->idle_since = net::coarse_now();
        c->timer.disarm();
        e.idle.push_back(std::move(c));
        gauge_idle(1);
        return;
    }
    --e.open;
    boost::system::error_code ec;
    c->socket.close(ec);
}

void cluster_state::sweep(net::clock::time_point now) {
    for (auto& e : eps_) {
        std::size_t kept = 0;
        for (auto& c : e.idle) {
            if (now - c->idle_since < def_->pool.idle_timeout) e.idle[kept++] = std::move(c);
            else {
                --e.open;
                gauge_idle(-1);
            }
        }
        e.idle.resize(kept);
    }
}

void cluster_state::close_idle() {
    for (auto& e : eps_) {
        e.open -= static_cast<std::uint32_t>(e.idle.size());
        gauge_idle(-static_cast<std::int64_t>(e.idle.size()));
        e.idle.clear();
    }
}

std::size_t cluster_state::idle_count() const {
    std::size_t n = 0;
    for (auto& e : eps_) n += e.idle.size();
    return n;
}

std::size_t cluster_state::open_count() const {
    std::size_t n = 0;
    for (auto& e : eps_) n += e.open;
    return n;
}

}  // namespace gatehouse::upstream
