#include "net/listener_state.hpp"

namespace gatehouse::net {

namespace {
std::atomic<std::int64_t> g_open_connections{0};  // every listener's, for limits.max_connections
}  // namespace

bool listener_state::admit(std::uint64_t global_limit) {
    auto mine = open->fetch_add(1, std::memory_order_relaxed) + 1;
    auto all = g_open_connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (static_cast<std::uint64_t>(mine) <= cfg.max_connections && static_cast<std::uint64_t>(all) <= global_limit) return true;
    release();
    return false;
}

void listener_state::release() {
    open->fetch_sub(1, std::memory_order_relaxed);
    g_open_connections.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace gatehouse::net
