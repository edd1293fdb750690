#pragma once
// systemd's service notification protocol (sd_notify(3)) in a few lines of our own, without
// libsystemd: newline-separated VAR=value assignments in one datagram to the AF_UNIX socket
// that $NOTIFY_SOCKET names. Used by the daemon for Type=notify units (deploy/systemd/).
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::server::sd_notify {

// The messages the daemon sends. `status` is free text for `systemctl status` (STATUS=); a
// newline in it would start a new assignment, so newlines become spaces.
std::string ready(std::string_view status);                                    // READY=1
std::string reloading(std::uint64_t monotonic_usec, std::string_view status);  // RELOADING=1, MONOTONIC_USEC=
std::string stopping(std::string_view status);                                 // STOPPING=1
std::string main_pid(pid_t pid, std::string_view status);                      // MAINPID=

// CLOCK_MONOTONIC in microseconds, what MONOTONIC_USEC= is measured in.
std::uint64_t monotonic_usec();

// Where $NOTIFY_SOCKET points: a file system path ("/run/systemd/notify") or, when it starts
// with '@', a name in the abstract namespace. Anything else (unset, empty, "vsock:...") is
// inactive and send() does nothing.
class notifier {
public:
    notifier() = default;
    explicit notifier(std::string socket_name) : name_(std::move(socket_name)) {}
    static notifier from_environment();

    bool active() const { return !name_.empty() && (name_[0] == '/' || name_[0] == '@'); }
    // One datagram; false when inactive or when sending failed (logged as a warning).
    bool send(std::string_view message) const;

private:
    std::string name_;
};

}  // namespace gatehouse::server::sd_notify
