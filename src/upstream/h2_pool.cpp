// The endpoint pools of an HTTP/2 upstream (pool.hpp): streams share an endpoint's connections
// up to each one's stream limit; a new connection opens when all are full, up to
// pool.max_connections per endpoint and worker (and limits.max_connections over all workers).
// Requests are balanced per request (each picks an endpoint), not per connection.
#include <algorithm>

#include "upstream/h2_connection.hpp"
#include "upstream/pool.hpp"

namespace gatehouse::upstream {

bool cluster_state::has_room(const endpoint_state& e) const {
    if (e.open < def_->pool.max_connections || !e.idle.empty()) return true;
    for (auto& c : e.h2)
        if (c->has_room() || c->opening()) return true;
    return false;
}

std::shared_ptr<h2_connection> cluster_state::stream_room(std::size_t i, bool& fresh) {
    auto& e = *eps_[i];
    fresh = false;
    const auto before = e.h2.size();
    std::erase_if(e.h2, [](auto& c) { return c->dead(); });
    e.open -= static_cast<std::uint32_t>(before - e.h2.size());  // (the caller itself takes the room)
    std::shared_ptr<h2_connection> best;
    for (auto& c : e.h2) {
        if (!c->has_room()) continue;
        if (!best || c->streams() > best->streams()) best = c;
    }
    if (!best) {
        auto& health = def_->health;
        if (e.open >= def_->pool.max_connections || !health->try_acquire(health->connections, limit_kind::max_connections)) return nullptr;
        best = std::make_shared<h2_connection>(ioc_, deadlines_, eps_[i], def_);
        best->counted(health);
        e.h2.push_back(best);
        ++e.open;
        fresh = true;
    }
    best->reserve();
    ++e.inflight;
    gauge_active(1);
    return best;
}

void cluster_state::stream_released(endpoint_state& e) {
    --e.inflight;
    gauge_active(-1);
    wake_one();
}

// Once a second: connections that died leave the pool, idle ones are pinged or closed.
void cluster_state::sweep_streams(endpoint_state& e, net::clock::time_point now) {
    std::size_t kept = 0;
    for (auto& c : e.h2) {
        if (c->opening() || !c->tick(now)) e.h2[kept++] = std::move(c);
        else --e.open;
    }
    const bool freed = kept < e.h2.size();
    e.h2.resize(kept);
    if (freed) wake_one();  // a call queued for room may open a connection in its place
}

// The endpoint left the set (or the upstream the snapshot): GOAWAY on each connection; streams
// in flight finish on it.
void cluster_state::close_streams(endpoint_state& e) {
    for (auto& c : e.h2) c->close();
    e.open -= static_cast<std::uint32_t>(e.h2.size());
    e.h2.clear();
}

}  // namespace gatehouse::upstream
