#pragma once
#include <chrono>
// One accepting socket of one listener on one worker. Sessions keep a reference, so a listener
// removed by a reload stays valid for the connections it accepted.
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/config/config.hpp"
#include "observability/stats.hpp"

namespace gatehouse::net {

// Open client connections of one listener over all workers (max_connections).
using connection_count = std::atomic<std::int64_t>;

struct listener_state {
    listener_state(boost::asio::ip::tcp::acceptor a, config::listener_config c, std::string k,
                   std::shared_ptr<observability::listener_stats> s, std::shared_ptr<connection_count> n)
        : acceptor(std::move(a)), cfg(std::move(c)), key(std::move(k)), stats(std::move(s)), open(std::move(n)) {}
    boost::asio::ip::tcp::acceptor acceptor;
    config::listener_config cfg;
    std::string key;                                       // listen_key(): identity across reloads and upgrades
    std::shared_ptr<observability::listener_stats> stats;  // null when metrics are off
    boost::asio::ip::tcp::endpoint peer;                   // filled by the pending accept (no getpeername call)
    std::shared_ptr<connection_count> open;                // shared by the workers' listener_states of one key
    // An episode of failed accepts (fd exhaustion): logged when it starts and when it ends, the
    // failures between counted; the acceptor backs off (doubling, up to 1 s) instead of spinning.
    struct exhaustion {
        std::uint64_t failures = 0;  // in the current episode; 0 = none
        std::chrono::milliseconds backoff{0};
        std::chrono::steady_clock::time_point since{};
    } exhausted;

    // Counts a new connection against this listener's and the process's limits; false (nothing
    // counted) when either is reached. release() when an admitted connection ends.
    bool admit(std::uint64_t global_limit);
    void release();
};

}  // namespace gatehouse::net
