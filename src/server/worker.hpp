#pragma once
// A worker: one thread, one io_context, its own SO_REUSEPORT acceptor per listener, its own
// upstream pools and its own pointer to the current snapshot (DESIGN.md §2). Everything here is
// touched only from the worker's thread, except the post_* entry points.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/session_host.hpp"
#include "net/deadlines.hpp"
#include "net/idle_batch.hpp"
#include "net/listener_state.hpp"
#include "config/snapshot.hpp"
#include "gatehouse/discovery/endpoint.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::server {

// The compiled config and the per-listener state live where the request path can reach them
// without including server/ (config/snapshot.hpp, net/listener_state.hpp).
using config::build_snapshot;
using config::snapshot;
using config::snapshot_services;
using net::connection_count;
using net::listener_state;
using upstream::cluster;

using net::clock;
using net::coarse_now;
using net::deadline;
using net::deadline_list;

// Pool figures of one endpoint on one worker, gathered for the admin API.
struct endpoint_stats {
    std::string upstream;
    std::string endpoint;
    std::uint32_t weight = 0;
    std::size_t open = 0, idle = 0, inflight = 0;
};

class worker final : public http::session_host {
public:
    worker(unsigned id, std::shared_ptr<const snapshot> snap);
    ~worker();

    boost::asio::io_context& ioc() override { return ioc_; }
    unsigned id() const override { return id_; }
    // Runs until drained; calls on_exit from the worker thread when done (failed: an exception
    // escaped the event loop, and the worker's listening sockets have been closed).
    void run(std::function<void(bool failed)> on_exit);
    // Test hook (GATEHOUSE_TEST_HOOKS=1 only): an exception escapes this worker's event loop.
    void post_fault_for_tests();

    // From any thread. Listening sockets arrive as file descriptors (the worker takes ownership)
    // and are identified by their listen_key.
    void post_add_listener(int fd, config::listener_config cfg, std::string key, std::shared_ptr<observability::listener_stats> stats,
                           std::shared_ptr<connection_count> open);
    void post_update_listener(std::string key, config::listener_config cfg, std::shared_ptr<observability::listener_stats> stats);
    void post_remove_listener(std::string key);
    // `installed` runs on the worker's thread once new requests use the snapshot.
    void post_snapshot(std::shared_ptr<const snapshot> snap, std::function<void()> installed = {});
    // Phase 1 of a drain: responses say Connection: close, keep-alive ends after each request.
    void post_soft_drain();
    // Phase 2: stop accepting, close idle connections; the worker exits when the last one ends.
    void post_stop_accepting();
    void post_collect_stats(std::function<void(std::vector<endpoint_stats>)> done);
    // A changed endpoint set of one upstream (discovery, control thread): no snapshot change.
    void post_endpoints(std::string upstream, std::shared_ptr<const discovery::endpoint_set> set);
    void stop() { ioc_.stop(); }
    // Naps its event loop took before blocking (event_loop.batch_wait); any thread.
    std::uint64_t batched_waits() const { return batch_.waits(); }

    // From the worker's own thread (sessions): http::session_host.
    const std::shared_ptr<const snapshot>& current() const override { return snap_; }
    bool shed_for_memory() override;
    std::shared_ptr<upstream::cluster_state> cluster_for(const snapshot& s, std::size_t index) override;
    deadline_list& deadlines() override { return deadlines_; }
    bool draining() const override { return draining_; }
    void session_started() override { ++sessions_; }
    void session_ended() override { --sessions_; }
    std::size_t sessions() const override { return sessions_; }
    std::uint64_t random() override;
    std::string_view new_request_id(char (&buf)[32]) override;

private:
    void install(std::shared_ptr<const snapshot> snap);
    void add_listener(int fd, config::listener_config cfg, std::string key, std::shared_ptr<observability::listener_stats> stats,
                      std::shared_ptr<connection_count> open);
    void start_accept(const std::shared_ptr<listener_state>& l);
    static bool out_of_resources(const boost::system::error_code& ec);
    void accept_backoff(const std::shared_ptr<listener_state>& l, const boost::system::error_code& ec);
    void tick();

    unsigned id_;
    // One thread per context, and sockets touched only from it: the reactor needs no locking.
    // (Posting from the control thread still goes through the scheduler's lock.)
    boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    std::shared_ptr<const snapshot> snap_;
    std::vector<std::shared_ptr<upstream::cluster_state>> clusters_;  // parallel to snap_->clusters
    std::unordered_map<std::string, std::shared_ptr<upstream::cluster_state>> by_identity_;
    std::unordered_map<std::string, std::shared_ptr<const discovery::endpoint_set>> endpoint_sets_;  // by upstream name
    std::shared_ptr<upstream::cluster_state> make_cluster(const std::shared_ptr<const cluster>& def, const snapshot& s, std::size_t index);
    std::vector<std::shared_ptr<listener_state>> listeners_;
    deadline_list deadlines_;
    net::idle_batch batch_;  // consulted by this worker's event loop (its thread only)
    boost::asio::steady_timer ticker_;
    bool draining_ = false;  // responses close their connections
    bool accepting_stopped_ = false;
    bool running_ = false;
    bool ticking_ = false;
    std::size_t sessions_ = 0;
    std::uint64_t rng_[2];
    clock::time_point last_sweep_{};
};

}  // namespace gatehouse::server
