// gatehouse: an HTTP/1.1 API gateway. See README.md and docs/.
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>

#include "gatehouse/config/config.hpp"
#include "server/daemon.hpp"
#include "discovery/registry.hpp"
#include "middleware/registry.hpp"
#include "server/check.hpp"

namespace {

constexpr const char* k_usage = R"(usage:
  gatehouse [--config FILE] [--log-level LEVEL] [--upgrade-socket PATH]
                                                   run the gateway (default config: config/gatehouse.yaml)
  gatehouse check FILE                             validate a config and exit (non-zero on problems)
  gatehouse --version                              print the version and the event loop it was built with
  gatehouse --help                                 print this help

LEVEL is one of trace, debug, info, warn, error (default info).
Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config (so does a change of the file).
--upgrade-socket PATH: binary upgrade. A gatehouse started with the same PATH while another one
serves it takes over its listening sockets, and the old one drains and exits (docs/operations.md).
SIGUSR2 (with --upgrade-socket) starts that new gatehouse itself: the binary now at this one's
path, same arguments (what systemd needs: systemctl kill -s SIGUSR2 --kill-whom=main gatehouse).
)";

int check(const std::string& path) {
    gatehouse::middleware::register_all();
    gatehouse::discovery::register_all();
    return gatehouse::server::check_config(path, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
    gatehouse::server::daemon_options opts;
    opts.config_path = "config/gatehouse.yaml";
    opts.arguments.assign(argv + 1, argv + argc);
    std::string level = "info";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << k_usage;
            return 0;
        }
        if (a == "--version" || a == "-V") {
            std::cout << "gatehouse " << GATEHOUSE_VERSION << '\n' << "event loop: " << gatehouse::server::event_loop_description() << '\n';
            return 0;
        }
        if (a == "check") {
            if (i + 1 >= argc) {
                std::cerr << "gatehouse check: a config file is required\n" << k_usage;
                return 2;
            }
            return check(argv[i + 1]);
        }
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            opts.config_path = argv[++i];
        } else if (a == "--upgrade-socket" && i + 1 < argc) {
            opts.upgrade_socket = argv[++i];
        } else if (a == "--log-level" && i + 1 < argc) {
            level = argv[++i];
        } else {
            std::cerr << "gatehouse: unknown argument '" << a << "'\n" << k_usage;
            return 2;
        }
    }
    gatehouse::middleware::register_all();
    gatehouse::discovery::register_all();
    // Asynchronous: a thread that logs (a worker reporting an upstream failure) formats the line
    // and queues it; one background thread writes and flushes. A full queue drops the oldest
    // line rather than blocking a worker on stderr.
    spdlog::init_thread_pool(8192, 1);
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto logger = std::make_shared<spdlog::async_logger>("gatehouse", sink, spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::overrun_oldest);
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(level));
    spdlog::flush_on(spdlog::level::info);
    int rc = gatehouse::server::run_daemon(opts);
    spdlog::shutdown();  // writes what is still queued
    return rc;
}
