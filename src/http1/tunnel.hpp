#pragma once
// Upgraded connections (WebSocket and other protocols after a 101) open right now, all workers.
#include <cstdint>

namespace gatehouse::http1 {
std::int64_t tunnels_active();
}
