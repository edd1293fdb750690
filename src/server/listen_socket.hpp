#pragma once
// Listening sockets as plain file descriptors: opened on the control thread, handed to a worker
// (which wraps it in an acceptor on its own thread), or handed to the next gatehouse process
// during a binary upgrade.
#include <cstdint>
#include <string>

#include "gatehouse/config/units.hpp"

namespace gatehouse::server {

// Opens, binds and listens (SO_REUSEADDR, SO_REUSEPORT when asked, non-blocking, close-on-exec).
// Throws std::system_error with the address in the message on failure.
int open_listen_socket(const config::host_port& address, bool reuse_port);

std::uint16_t local_port(int fd);
bool is_ipv6_socket(int fd);

// "host:port" as configured: the identity of a listening address across reloads and upgrades.
std::string listen_key(const config::host_port& address);

}  // namespace gatehouse::server
