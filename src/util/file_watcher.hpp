#pragma once
// Watches the config file's directory with inotify, so every way of changing the file is seen:
// in-place writes, editors that write a new file and rename it, and Kubernetes ConfigMap or
// Secret updates (a symlink swap of the directory's "..data"). Events are debounced; the owner
// decides whether the content really changed.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gatehouse::util {

class file_watcher {
public:
    file_watcher(boost::asio::io_context& ioc, const std::string& config_path, std::chrono::milliseconds debounce,
                 std::function<void()> on_change);
    ~file_watcher();
    bool active() const { return fd_ >= 0; }
    // Also watch the directory of `path` (files the config refers to: key files, user lists).
    void watch_file(const std::string& path);

private:
    void read();
    std::string dir_;
    std::vector<std::string> dirs_;
    int fd_ = -1;
    boost::asio::posix::stream_descriptor stream_;
    boost::asio::steady_timer debounce_timer_;
    std::chrono::milliseconds debounce_;
    std::function<void()> on_change_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // expired once the watcher is gone
    char buf_[8192];
};

}  // namespace gatehouse::util
