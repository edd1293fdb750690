#pragma once
// One worker's view of one upstream: its endpoints' keep-alive connections and its balancer.
// Lives outside the snapshot, keyed by the cluster's identity, so pooled connections survive
// a reload that does not change the upstream.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <vector>

#include "net/io_buffer.hpp"
#include "net/transport.hpp"
#include "net/deadlines.hpp"
#include "server/snapshot.hpp"
#include "upstream/tls_session.hpp"

namespace gatehouse::upstream {

struct upstream_connection {
    upstream_connection(boost::asio::io_context& ioc, net::deadline_list& dl, std::size_t ep)
        : socket(ioc), timer(dl, socket), buf(8192, 1 << 20), endpoint(ep) {}
    boost::asio::ip::tcp::socket socket;
    net::transport io{socket};  // TLS when the upstream has tls:
    net::deadline timer;
    net::io_buffer buf;
    std::size_t endpoint;
    bool reused = false;
    net::clock::time_point idle_since{};
};

struct endpoint_state {
    tls_session_slot tls_session;  // before idle: outlives the connections that point to it
    std::vector<std::unique_ptr<upstream_connection>> idle;
    std::uint32_t open = 0;      // idle + leased
    std::uint32_t inflight = 0;  // leased
};

class cluster_state {
public:
    cluster_state(std::shared_ptr<const server::cluster> def, boost::asio::io_context& ioc, net::deadline_list& dl, std::uint64_t seed,
                  std::shared_ptr<observability::upstream_stats> stats, std::size_t worker);
    ~cluster_state();

    const server::cluster& def() const { return *def_; }
    // This worker's metric shard for the upstream (null when metrics are off).
    observability::upstream_shard* stats() { return stats_ ? &stats_->at(worker_) : nullptr; }
    // Picks an endpoint with room for another connection; k_no_endpoint if none.
    std::size_t pick(std::uint64_t key, bool has_key, std::size_t avoid = k_no_endpoint);
    // Requests that find every endpoint at max_connections wait here, first come first served,
    // for a connection to be released. queue_first(): a new request must queue even if pick()
    // would succeed, because earlier ones are waiting. can_wait(): the queue has room.
    bool queue_first() const { return !waiters_.empty() || woken_ > 0; }
    bool can_wait() const { return !eps_.empty() && waiters_.size() < def_->pool.max_pending; }
    // True when woken by a release (pick again), false at `until` (answer 503).
    boost::asio::awaitable<bool> wait_for_room(net::clock::time_point until);
    // A pooled connection to `ep` (reused = true), or a fresh unconnected one (reused = false).
    // `fresh` skips the idle list (the retry after a stale keep-alive connection failed).
    std::unique_ptr<upstream_connection> acquire(std::size_t ep, bool fresh = false);
    tls_session_slot& tls_session(std::size_t ep) { return eps_[ep].tls_session; }
    void release(std::unique_ptr<upstream_connection> c, bool reusable);
    void sweep(net::clock::time_point now);  // closes connections idle past idle_timeout
    void close_idle();
    std::size_t idle_count() const;
    std::size_t open_count() const;
    void retire() { retired_ = true; close_idle(); }
    template <class Stats>
    void collect(std::vector<Stats>& out) const {
        for (std::size_t i = 0; i < eps_.size(); ++i) {
            Stats s;
            s.upstream = def_->name;
            s.endpoint = def_->endpoint_names[i];
            s.weight = def_->weights[i];
            s.open = eps_[i].open;
            s.idle = eps_[i].idle.size();
            s.inflight = eps_[i].inflight;
            out.push_back(std::move(s));
        }
    }

private:
    std::shared_ptr<const server::cluster> def_;
    boost::asio::io_context& ioc_;
    net::deadline_list& deadlines_;
    std::vector<endpoint_state> eps_;
    std::vector<endpoint_load> loads_;
    balancer_state lb_;
    bool retired_ = false;
    std::shared_ptr<observability::upstream_stats> stats_;
    std::size_t worker_;
    struct waiter {
        explicit waiter(boost::asio::io_context& ioc) : timer(ioc) {}
        boost::asio::steady_timer timer;
        bool woken = false;
    };
    std::deque<waiter*> waiters_;
    std::size_t woken_ = 0;  // woken but not yet resumed: they pick before any newcomer
    void wake_one();
    void gauge_pending(std::int64_t d) { if (stats_) { auto& s = stats_->at(worker_).pool_pending; d > 0 ? s.add(static_cast<std::uint64_t>(d)) : s.sub(static_cast<std::uint64_t>(-d)); } }
    void gauge_idle(std::int64_t d) { if (stats_) { auto& s = stats_->at(worker_).pool_idle; d > 0 ? s.add(static_cast<std::uint64_t>(d)) : s.sub(static_cast<std::uint64_t>(-d)); } }
    void gauge_active(std::int64_t d) { if (stats_) { auto& s = stats_->at(worker_).pool_active; d > 0 ? s.add(static_cast<std::uint64_t>(d)) : s.sub(static_cast<std::uint64_t>(-d)); } }
};

// Owns a leased connection; gives it back (as not reusable) if the request forgets to.
struct lease {
    std::shared_ptr<cluster_state> cluster;
    std::unique_ptr<upstream_connection> conn;
    lease() = default;
    lease(lease&&) = default;
    lease& operator=(lease&& o) noexcept {
        if (this != &o) {
            done(false);
            cluster = std::move(o.cluster);
            conn = std::move(o.conn);
        }
        return *this;
    }
    ~lease() { done(false); }
    void done(bool reusable) {
        if (conn && cluster) cluster->release(std::move(conn), reusable);
        conn.reset();
    }
};

}  // namespace gatehouse::upstream
