#pragma once
// One worker's view of one upstream: its endpoints' keep-alive connections and its balancer.
// Lives outside the snapshot, keyed by the cluster's identity, so pooled connections survive
// a reload that does not change the upstream. Endpoints are keyed by address: when discovery
// publishes a new set, endpoints that stay keep their idle connections and TLS sessions, new
// ones start empty, and removed ones take no new requests (their connections close when their
// current request ends).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <vector>

#include "gatehouse/discovery/endpoint.hpp"
#include "upstream/load_balancer.hpp"
#include "net/deadlines.hpp"
#include "net/io_buffer.hpp"
#include "net/transport.hpp"
#include "observability/stats.hpp"
#include "upstream/cluster.hpp"
#include "upstream/tls_session.hpp"

namespace gatehouse::upstream {

struct upstream_connection;
class h2_connection;

struct endpoint_state {
    endpoint_state(discovery::endpoint i, boost::asio::ip::tcp::endpoint a) : info(std::move(i)), address(a), key(info.key()) {}
    discovery::endpoint info;
    boost::asio::ip::tcp::endpoint address;
    std::string key;               // "ip:port", for logs and the admin API
    tls_session_slot tls_session;  // before idle: outlives the connections that point to it
    std::vector<std::unique_ptr<upstream_connection>> idle;
    std::vector<std::shared_ptr<h2_connection>> h2;  // HTTP/2 upstreams: the multiplexed connections (opening, up, going away)
    std::uint32_t open = 0;                   // idle + leased (HTTP/2: every connection in h2)
    std::uint32_t inflight = 0;               // leased
    latency_estimate latency;                 // peak_ewma: this worker's view of the endpoint's latency
    std::shared_ptr<endpoint_health> health;  // shared by every worker (outlier ejection, checks, slow start)
    bool removed = false;                     // no longer in the set: leased connections close on release
    bool speaks_http1 = false;                // protocol h2 with protocol_fallback: ALPN chose http/1.1 (this worker's view)
};

struct upstream_connection {
    upstream_connection(boost::asio::io_context& ioc, net::deadline_list& dl, std::shared_ptr<endpoint_state> e)
        : socket(ioc), timer(dl, socket), buf(8192, 1 << 20), ep(std::move(e)) {}
    boost::asio::ip::tcp::socket socket;
    net::transport io{socket};  // TLS when the upstream has tls:
    net::deadline timer;
    net::io_buffer buf;
    std::shared_ptr<endpoint_state> ep;  // (an idle connection's own endpoint holds it: the pool breaks the cycle)
    bool reused = false;
    net::clock::time_point idle_since{};
    net::clock::duration keep_alive{net::clock::duration::max()};  // the upstream's Keep-Alive: timeout, less a margin
    std::uint32_t watch_gen = 0;                                   // which idle period the pending EOF watch belongs to
    bool watched = false;                                          // idle, with an EOF watch pending
    std::shared_ptr<upstream_health> counted;                      // holds one of its `connections` (limits.max_connections)
    ~upstream_connection() {
        if (counted) upstream_health::release(counted->connections);
    }
};

class cluster_state : public std::enable_shared_from_this<cluster_state> {
public:
    cluster_state(std::shared_ptr<const cluster> def, boost::asio::io_context& ioc, net::deadline_list& dl, std::uint64_t seed,
                  std::shared_ptr<observability::upstream_stats> stats, std::size_t worker,
                  std::shared_ptr<const discovery::endpoint_set> set);
    ~cluster_state();

    const cluster& def() const { return *def_; }
    // This worker's metric shard for the upstream (null when metrics are off).
    observability::upstream_shard* stats() { return stats_ ? &stats_->at(worker_) : nullptr; }

    // A new endpoint set from discovery (same upstream): diffed by address.
    void update(std::shared_ptr<const discovery::endpoint_set> set);
    std::size_t size() const { return eps_.size(); }
    endpoint_state& endpoint(std::size_t i) { return *eps_[i]; }
    const std::shared_ptr<endpoint_state>& endpoint_ptr(std::size_t i) const { return eps_[i]; }

    // Picks an endpoint with room for another connection; k_no_endpoint if none. With endpoint
    // health tracked (upstream_health::tracks_endpoints), ejected and unhealthy endpoints are
    // passed over unless fewer than panic_threshold % are usable (then all are: Envoy's panic
    // mode), and slow-starting ones get a share of their weight.
    std::size_t pick(std::uint64_t key, bool has_key, std::size_t avoid = k_no_endpoint);
    // After a pick that found nothing: was it because no endpoint was healthy (not for room)?
    bool none_healthy() const { return none_healthy_; }
    // Requests that find every endpoint at max_connections wait here, first come first served,
    // for a connection to be released. queue_first(): a new request must queue even if pick()
    // would succeed, because earlier ones are waiting. can_wait(): the queue has room.
    bool queue_first() const { return !waiters_.empty() || woken_ > 0; }
    bool can_wait() const { return !eps_.empty() && waiters_.size() < def_->pool.max_pending; }
    // True when woken by a release (pick again), false at `until` (answer 503).
    boost::asio::awaitable<bool> wait_for_room(net::clock::time_point until);
    // A pooled connection to endpoint i (reused = true), or a fresh unconnected one (reused = false);
    // null when a new one would pass the upstream's limits.max_connections (over all workers).
    // `fresh` skips the idle list (the retry after a stale keep-alive connection failed).
    std::unique_ptr<upstream_connection> acquire(std::size_t i, bool fresh = false);
    void release(std::unique_ptr<upstream_connection> c, bool reusable);
    // HTTP/2 upstreams (h2_pool.cpp): a connection to endpoint i with room for one more stream
    // (the one with the most streams already: the others can go idle), or a new one the caller
    // opens (`fresh`) while limits.max_connections and pool.max_connections allow; null if not.
    std::shared_ptr<h2_connection> stream_room(std::size_t i, bool& fresh);
    // A call's stream on endpoint e is over: its place goes to a waiting call.
    void stream_released(endpoint_state& e);
    boost::asio::io_context& ioc() { return ioc_; }
    void sweep(net::clock::time_point now);  // closes connections idle past their limit
    // Every worker tick (100 ms): arms the EOF watch of connections that went idle since the
    // last tick, so an idle connection the upstream closes leaves the pool at once.
    void watch_idle_connections();
    void close_idle();
    std::size_t idle_count() const;
    std::size_t open_count() const;
    void retire() {
        retired_ = true;
        close_idle();
    }
    template <class Stats>
    void collect(std::vector<Stats>& out) const {
        for (auto& e : eps_) {
            Stats s;
            s.upstream = def_->name;
            s.endpoint = e->key;
            s.weight = e->info.weight;
            s.open = e->open;
            s.idle = e->idle.size();
            s.inflight = e->inflight;
            out.push_back(std::move(s));
        }
    }

private:
    void watch_idle(upstream_connection& c);
    bool has_room(const endpoint_state& e) const;  // for one more request (a connection, or a stream)
    void sweep_streams(endpoint_state& e, net::clock::time_point now);
    void close_streams(endpoint_state& e);
    void drop_idle(const upstream_connection* c, std::uint32_t gen);
    void drop_all_idle(endpoint_state& e);
    net::clock::duration idle_limit(const upstream_connection& c) const {
        return std::min<net::clock::duration>(def_->pool.idle_timeout, c.keep_alive);
    }

    std::shared_ptr<const cluster> def_;
    boost::asio::io_context& ioc_;
    net::deadline_list& deadlines_;
    std::shared_ptr<const discovery::endpoint_set> set_;
    std::vector<std::shared_ptr<endpoint_state>> eps_;  // the current set, in its order
    std::vector<endpoint_load> loads_;
    std::vector<std::uint8_t> healthy_;  // per endpoint, scratch for pick()
    bool none_healthy_ = false;
    std::vector<bool> in_group_;  // in the lowest priority group present (SRV)
    balancer_state lb_;
    hash_ring ring_;
    bool retired_ = false;
    bool unwatched_ = false;  // a connection went idle since the last watch_idle_connections
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
    void gauge(observability::counter observability::upstream_shard::*which, std::int64_t d) {
        if (!stats_) return;
        auto& s = stats_->at(worker_).*which;
        d > 0 ? s.add(static_cast<std::uint64_t>(d)) : s.sub(static_cast<std::uint64_t>(-d));
    }
    void gauge_pending(std::int64_t d) { gauge(&observability::upstream_shard::pool_pending, d); }
    void gauge_idle(std::int64_t d) { gauge(&observability::upstream_shard::pool_idle, d); }
    void gauge_active(std::int64_t d) { gauge(&observability::upstream_shard::pool_active, d); }
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
