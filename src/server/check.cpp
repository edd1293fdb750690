#include "server/check.hpp"

#include <boost/version.hpp>

#include <ostream>

#include "config/snapshot.hpp"
#include "router/shadowing.hpp"

namespace gatehouse::server {

std::string event_loop_description(bool reactor_patched) {
    const std::string boost = "Boost " + std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000);
    return reactor_patched ? "patched Asio epoll reactor (" + boost + ")" : "Asio's stock reactor (" + boost + ")";
}

void warn_unsupported(const config::gateway_config& c, config::diagnostics& d, bool reactor_patched) {
    const auto wait = c.event_loop.batch_wait;
    if (reactor_patched || wait.count() == 0) return;
    const auto& mark = c.event_loop.batch_wait_mark;
    d.warning(mark, "event_loop.batch_wait",
              (mark.line == 0 ? "the default, " + std::to_string(wait.count()) + "us, has" : std::string("has")) +
                  " no effect in this build: its event loop is " + event_loop_description(false) +
                  ", not the patched one (src/asio_patch: Boost 1.81, epoll), so a worker blocks at once. Set "
                  "event_loop.batch_wait: 0, or build gatehouse with the patched reactor (docs/architecture.md, "
                  "\"Upgrading Boost\")");
}

void warn_shadowed_routes(const config::gateway_config& c, config::diagnostics& d) {
    for (auto [j, i] : router::find_shadowed_routes(c.routes)) {
        const auto &route = c.routes[j], &by = c.routes[i];
        d.warning(route.mark, "routes[" + std::to_string(j) + "]",
                  "route '" + route.name + "' can never match: route '" + by.name + "' (routes[" + std::to_string(i) + "] at " +
                      std::to_string(by.mark.line) + ":" + std::to_string(by.mark.column) +
                      ") comes first in the same host group and accepts every request it could");
    }
}

int check_config(const std::string& path, std::ostream& out, std::ostream& err, bool reactor_patched) {
    auto loaded = config::load_file(path);
    if (loaded.config) warn_unsupported(*loaded.config, loaded.diags, reactor_patched);
    if (loaded.config) warn_shadowed_routes(*loaded.config, loaded.diags);
    for (auto& d : loaded.diags.all()) err << d.to_string() << '\n';
    if (!loaded.config) return 1;
    config::diagnostics diags(path);
    auto snap = config::build_snapshot(std::move(*loaded.config), 1, diags);
    for (auto& d : diags.all()) err << d.to_string() << '\n';
    if (!snap) return 1;
    out << path << ": OK\n";
    return 0;
}

}  // namespace gatehouse::server
