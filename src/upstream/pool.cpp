#include "upstream/pool.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <map>

namespace gatehouse::upstream {

namespace asio = boost::asio;

cluster_state::cluster_state(std::shared_ptr<const cluster> def, asio::io_context& ioc, net::deadline_list& dl, std::uint64_t seed,
                             std::shared_ptr<observability::upstream_stats> stats, std::size_t worker,
                             std::shared_ptr<const discovery::endpoint_set> set)
    : def_(std::move(def)), ioc_(ioc), deadlines_(dl), lb_(def_->lb, 0, seed), stats_(std::move(stats)), worker_(worker) {
    update(set ? std::move(set) : std::make_shared<discovery::endpoint_set>());
}

cluster_state::~cluster_state() {
    // Leave the gauges as if every connection were closed (leased ones release after this: none,
    // since a lease holds a reference to its cluster_state).
    close_idle();
}

void cluster_state::update(std::shared_ptr<const discovery::endpoint_set> set) {
    if (set_ && set_->version == set->version && !eps_.empty()) return;
    std::map<std::string, std::shared_ptr<endpoint_state>> old;
    for (auto& e : eps_) old[e->key] = e;
    const bool initial = !set_ || set_->endpoints.empty();  // the first set starts at full weight (slow start)
    const auto now = net::clock::now();
    std::vector<std::shared_ptr<endpoint_state>> next;
    for (auto& info : set->endpoints) {
        auto it = old.find(info.key());
        if (it != old.end()) {
            it->second->info = info;  // weight, priority, source may change; connections stay
            next.push_back(std::move(it->second));
            old.erase(it);
            continue;
        }
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(info.address, ec);
        if (ec) continue;  // discovery publishes IP literals only
        next.push_back(std::make_shared<endpoint_state>(info, asio::ip::tcp::endpoint(addr, info.port)));
        next.back()->health = def_->health->endpoint(next.back()->key, initial, now);
    }
    for (auto& [key, e] : old) {
        e->removed = true;
        drop_all_idle(*e);  // leased ones close when their request ends
    }
    eps_ = std::move(next);
    set_ = std::move(set);
    loads_.assign(eps_.size(), {});
    in_group_.assign(eps_.size(), true);
    auto lowest = discovery::lowest_priority(set_->endpoints);
    std::vector<std::uint32_t> weights;
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < eps_.size(); ++i) {
        loads_[i].weight = eps_[i]->info.weight;
        in_group_[i] = eps_[i]->info.priority == lowest;
        weights.push_back(in_group_[i] ? eps_[i]->info.weight : 0);
        keys.push_back(eps_[i]->key);
    }
    if (def_->lb.policy == config::lb_policy::ring_hash) ring_ = hash_ring(weights, keys);
    // Woken waiters pick again against the new set; with no endpoints left they answer 503.
    if (eps_.empty())
        while (!waiters_.empty()) wake_one();
}

std::size_t cluster_state::pick(std::uint64_t key, bool has_key, std::size_t avoid) {
    const auto& health = *def_->health;
    none_healthy_ = false;
    if (!health.tracks_endpoints()) {
        for (std::size_t i = 0; i < eps_.size(); ++i) {
            auto& e = *eps_[i];
            loads_[i].inflight = e.inflight;
            loads_[i].latency = &e.latency;
            loads_[i].usable = in_group_[i] && has_room(e) && i != avoid;
        }
        return lb_.pick(loads_, &ring_, key, has_key);
    }
    const auto now = net::coarse_now();
    std::size_t healthy = 0, candidates = 0;
    healthy_.resize(eps_.size());
    for (std::size_t i = 0; i < eps_.size(); ++i) {
        healthy_[i] = health.usable(*eps_[i]->health, now);
        if (in_group_[i]) {
            ++candidates;
            healthy += healthy_[i];
        }
    }
    // Panic mode: with too few usable endpoints, ejection and checks would pile the whole load on
    // the survivors (or refuse it all); balancing across every endpoint degrades more gently.
    const bool panic = healthy * 100 < health.panic_threshold() * candidates;
    bool ramping = false;
    for (std::size_t i = 0; i < eps_.size(); ++i) {
        auto& e = *eps_[i];
        loads_[i].inflight = e.inflight;
        loads_[i].latency = &e.latency;
        loads_[i].usable = in_group_[i] && (panic || healthy_[i]) && has_room(e) && i != avoid;
        double f = health.weight_factor(*e.health, now);
        ramping |= f < 1.0;
        loads_[i].weight = static_cast<std::uint32_t>(std::max(1.0, 100.0 * f * e.info.weight));
    }
    auto i = lb_.pick(loads_, &ring_, key, has_key, ramping);
    none_healthy_ = i == k_no_endpoint && healthy == 0 && !panic && candidates > 0;
    return i;
}

std::unique_ptr<upstream_connection> cluster_state::acquire(std::size_t i, bool fresh) {
    auto& e = *eps_[i];
    auto now = net::coarse_now();
    while (!fresh && !e.idle.empty()) {
        auto c = std::move(e.idle.back());
        e.idle.pop_back();
        gauge_idle(-1);
        if (c->watched) {
            c->watched = false;
            ++c->watch_gen;  // a watch that completed already but has not run yet finds a newer period
            boost::system::error_code ec;
            c->socket.cancel(ec);  // the pending EOF watch completes, aborted
        }
        if (now - c->idle_since < idle_limit(*c)) {
            c->reused = true;
            ++e.inflight;
            gauge_active(1);
            return c;
        }
        --e.open;  // stale: dropped here, closed by its destructor
    }
    auto& health = def_->health;
    if (!health->try_acquire(health->connections, limit_kind::max_connections)) return nullptr;
    ++e.open;
    ++e.inflight;
    gauge_active(1);
    auto c = std::make_unique<upstream_connection>(ioc_, deadlines_, eps_[i]);
    c->counted = health;
    return c;
}

asio::awaitable<bool> cluster_state::wait_for_room(net::clock::time_point until) {
    waiter w(ioc_);
    w.timer.expires_at(until);
    waiters_.push_back(&w);
    gauge_pending(1);
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));  // expiry or cancel: the flag says which
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
    auto& e = *c->ep;
    --e.inflight;
    gauge_active(-1);
    wake_one();  // runs after this returns: the connection is back (or closed) by then
    if (reusable && !retired_ && !e.removed && c->buf.empty() && c->socket.is_open() && idle_limit(*c) > net::clock::duration::zero()) {
        c->idle_since = net::coarse_now();
        c->timer.disarm();
        e.idle.push_back(std::move(c));  // watched from the next tick (watch_idle_connections)
        unwatched_ = true;
        gauge_idle(1);
        return;
    }
    --e.open;
    boost::system::error_code ec;
    c->socket.close(ec);
}

void cluster_state::watch_idle_connections() {
    if (!unwatched_) return;
    unwatched_ = false;
    for (auto& e : eps_)
        for (auto& c : e->idle)
            if (!c->watched) watch_idle(*c);
}

// Readable while idle means the upstream closed (or sent bytes nobody asked for): either way the
// connection must not carry the next request (HTTP-EDGE-CASES: the keep-alive race).
// Not armed on release: a busy pool reuses a connection within microseconds, and Asio re-arms
// epoll (one epoll_ctl) for every wait, which callgrind showed as one syscall more per request.
// Armed from the tick instead, a connection is unwatched for its first 100 ms of idleness at
// most; a request that meets a connection closed in that window is resent when it is
// replayable, like any stale keep-alive connection.
void cluster_state::watch_idle(upstream_connection& c) {
    c.watched = true;
    // No allocation per idle period: the handler carries the connection's address and period,
    // and drop_idle only compares the address with what is still idle (it may be gone).
    std::weak_ptr<cluster_state> self = weak_from_this();
    c.socket.async_wait(asio::ip::tcp::socket::wait_read, [self, conn = &c, gen = c.watch_gen](boost::system::error_code ec) {
        if (ec) return;  // leased (cancelled) or closed since: nothing to do
        if (auto s = self.lock()) s->drop_idle(conn, gen);
    });
}

void cluster_state::drop_idle(const upstream_connection* c, std::uint32_t gen) {
    std::vector<std::unique_ptr<upstream_connection>>::iterator it;
    endpoint_state* found = nullptr;
    for (auto& ep : eps_) {
        it = std::find_if(ep->idle.begin(), ep->idle.end(), [c](auto& p) { return p.get() == c; });
        if (it != ep->idle.end()) {
            found = ep.get();
            break;
        }
    }
    if (!found || (*it)->watch_gen != gen) return;  // not idle any more, or idle again since
    auto& e = *found;
    auto keep = (*it)->ep;  // the endpoint outlives the erase
    std::unique_ptr<upstream_connection> gone = std::move(*it);
    e.idle.erase(it);
    --e.open;
    gauge_idle(-1);
    spdlog::debug("upstream {}: idle connection to {} closed by the upstream; dropped from the pool", def_->name, e.key);
}

void cluster_state::drop_all_idle(endpoint_state& e) {
    close_streams(e);
    e.open -= static_cast<std::uint32_t>(e.idle.size());
    gauge_idle(-static_cast<std::int64_t>(e.idle.size()));
    auto idle = std::move(e.idle);  // destroyed after e.idle is empty: their endpoint may be `e` itself
    e.idle.clear();
}

void cluster_state::sweep(net::clock::time_point now) {
    for (auto& ep : eps_) {
        auto& e = *ep;
        if (!e.h2.empty()) sweep_streams(e, now);
        std::vector<std::unique_ptr<upstream_connection>> gone;
        std::size_t kept = 0;
        for (auto& c : e.idle) {
            if (now - c->idle_since < idle_limit(*c)) e.idle[kept++] = std::move(c);
            else gone.push_back(std::move(c));
        }
        e.idle.resize(kept);
        e.open -= static_cast<std::uint32_t>(gone.size());
        gauge_idle(-static_cast<std::int64_t>(gone.size()));
    }
}

void cluster_state::close_idle() {
    for (auto& e : eps_) drop_all_idle(*e);
}

std::size_t cluster_state::idle_count() const {
    std::size_t n = 0;
    for (auto& e : eps_) n += e->idle.size();
    return n;
}

std::size_t cluster_state::open_count() const {
    std::size_t n = 0;
    for (auto& e : eps_) n += e->open;
    return n;
}

}  // namespace gatehouse::upstream
