#pragma once
// Upgraded connections (WebSocket and other protocols after a 101) open right now, all workers.
#include <cstdint>

namespace gatehouse::http1 {
std::int64_t tunnels_active();

// A tunnel counts from the moment the switch is decided, before its 101 (HTTP/2: its 200)
// reaches the client (a client that reads the gauge then sees itself), until it ends, whichever
// way. HTTP/2 streams that carry a tunnel (RFC 8441) count too.
struct tunnel_count {
    tunnel_count();
    ~tunnel_count();
    tunnel_count(const tunnel_count&) = delete;
    tunnel_count& operator=(const tunnel_count&) = delete;
};
}
