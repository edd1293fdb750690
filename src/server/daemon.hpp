#pragma once
// The process: builds the first snapshot, binds the listeners for every worker, runs the worker
// threads and the control thread (signals, admin, reloads), and drains on SIGTERM/SIGINT.
#include <string>

namespace gatehouse::server {

int run_daemon(const std::string& config_path);

}  // namespace gatehouse::server
