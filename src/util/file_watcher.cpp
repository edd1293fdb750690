#include "util/file_watcher.hpp"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>
#include <filesystem>

namespace gatehouse::util {

namespace asio = boost::asio;

file_watcher::file_watcher(asio::io_context& ioc, const std::string& config_path, std::chrono::milliseconds debounce,
                           std::function<void()> on_change)
    : stream_(ioc), debounce_timer_(ioc), debounce_(debounce), on_change_(std::move(on_change)) {
    // The directory of the path as given (not of its symlink target): a ConfigMap swap replaces
    // the target, and only the directory holding the link sees it.
    auto p = std::filesystem::absolute(config_path);
    dir_ = p.parent_path().string();
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) {
        spdlog::warn("config watcher: inotify unavailable ({}); reload with SIGHUP or POST /-/reload", std::strerror(errno));
        return;
    }
    if (inotify_add_watch(fd_, dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB) < 0) {
        spdlog::warn("config watcher: cannot watch {}: {}", dir_, std::strerror(errno));
        ::close(fd_);
        fd_ = -1;
        return;
    }
    dirs_.push_back(dir_);
    stream_.assign(fd_);
    read();
}

void file_watcher::watch_file(const std::string& path) {
    if (fd_ < 0) return;
    auto dir = std::filesystem::absolute(path).parent_path().string();
    if (std::find(dirs_.begin(), dirs_.end(), dir) != dirs_.end()) return;
    if (inotify_add_watch(fd_, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB) < 0) {
        spdlog::warn("config watcher: cannot watch {}: {}", dir, std::strerror(errno));
        return;
    }
    dirs_.push_back(dir);
}

file_watcher::~file_watcher() {
    boost::system::error_code ec;
    stream_.close(ec);  // closes fd_
}

// The handlers check that the watcher still lives: one already queued with success when the
// watcher is destroyed (a drain drops it) still runs, and closing or cancelling cannot recall it.
void file_watcher::read() {
    stream_.async_read_some(asio::buffer(buf_), [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec, std::size_t) {
        if (ec || alive.expired()) return;
        // Which file changed does not matter: the reload compares content, so a burst of events
        // (write, rename, chmod) becomes one check once things are quiet for `debounce_`.
        debounce_timer_.expires_after(debounce_);
        debounce_timer_.async_wait([this, alive](boost::system::error_code e) {
            if (!e && !alive.expired()) on_change_();
        });
        read();
    });
}

}  // namespace gatehouse::util
