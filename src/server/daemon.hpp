#pragma once
// The process: builds the first snapshot, opens (or inherits) the listening sockets, runs the
// worker threads and the control thread (signals, admin API, config watcher, reloads, binary
// upgrades), and drains on SIGTERM/SIGINT.
#include <string>
#include <vector>

namespace gatehouse::server {

struct daemon_options {
    std::string config_path;
    std::string upgrade_socket;          // empty: no binary-upgrade handover
    std::vector<std::string> arguments;  // the command line after argv[0], for SIGUSR2's upgrade
};

int run_daemon(const daemon_options& options);

}  // namespace gatehouse::server
