#pragma once
// `gatehouse check FILE`, and what it and the daemon say about settings this build cannot honour
// (event_loop.batch_wait needs our patched Asio reactor: net/asio_patch.hpp).
#include <iosfwd>
#include <string>

#include "gatehouse/config/config.hpp"
#include "net/asio_patch.hpp"

namespace gatehouse::server {

// The event loop this build runs, for --version and messages: "patched Asio epoll reactor
// (Boost 1.81)" or "Asio's stock reactor (Boost 1.83)".
std::string event_loop_description(bool reactor_patched = net::asio_patched);

// A warning in `d` for each setting of `c` this build would ignore: a non-zero
// event_loop.batch_wait when the event loop is Asio's stock reactor (`reactor_patched` false).
void warn_unsupported(const config::gateway_config& c, config::diagnostics& d, bool reactor_patched = net::asio_patched);

// A warning in `d` for each route that can never match because an earlier route of its host
// group accepts every request it could (router/shadowing.hpp), naming both routes' line:col.
void warn_shadowed_routes(const config::gateway_config& c, config::diagnostics& d);

// Loads and builds the config at `path` as the daemon would, opening and starting nothing:
// every diagnostic to `err`, "PATH: OK" to `out`. 0 when the daemon would accept it (warnings or
// not), 1 otherwise. Middleware and discovery types must be registered.
int check_config(const std::string& path, std::ostream& out, std::ostream& err, bool reactor_patched = net::asio_patched);

}  // namespace gatehouse::server
