#include "server/sd_notify.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace gatehouse::server::sd_notify {

namespace {

std::string status_line(std::string_view status) {
    std::string s = "STATUS=";
    for (char c : status) s += (c == '\n' || c == '\r') ? ' ' : c;
    return s;
}

}  // namespace

std::string ready(std::string_view status) { return "READY=1\n" + status_line(status); }

std::string reloading(std::uint64_t monotonic_usec, std::string_view status) {
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec) + "\n" + status_line(status);
}

std::string stopping(std::string_view status) { return "STOPPING=1\n" + status_line(status); }

std::string main_pid(pid_t pid, std::string_view status) { return "MAINPID=" + std::to_string(pid) + "\n" + status_line(status); }

std::uint64_t monotonic_usec() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000u;
}

notifier notifier::from_environment() {
    const char* v = std::getenv("NOTIFY_SOCKET");
    return notifier(v ? v : "");
}

bool notifier::send(std::string_view message) const {
    if (!active()) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name_.size() >= sizeof addr.sun_path) {
        spdlog::warn("NOTIFY_SOCKET is too long for a Unix socket address: {}", name_);
        return false;
    }
    std::memcpy(addr.sun_path, name_.data(), name_.size());
    // An abstract name is the bytes after a leading NUL, its length given by the address length;
    // a path is NUL-terminated (the zeroed byte after it).
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    if (name_[0] == '@') addr.sun_path[0] = '\0';
    else ++len;
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        spdlog::warn("sd_notify: socket: {}", std::strerror(errno));
        return false;
    }
    const auto sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
    const int err = errno;
    ::close(fd);
    if (sent != static_cast<ssize_t>(message.size())) {
        spdlog::warn("sd_notify: cannot send to {}: {}", name_, std::strerror(err));
        return false;
    }
    return true;
}

}  // namespace gatehouse::server::sd_notify
