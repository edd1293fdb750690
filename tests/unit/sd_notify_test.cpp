#include "server/sd_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace gatehouse::server::sd_notify {
namespace {

TEST(SdNotify, ReadyCarriesAStatus) { EXPECT_EQ(ready("serving config generation 1"), "READY=1\nSTATUS=serving config generation 1"); }

TEST(SdNotify, ReloadingCarriesTheMonotonicClock) {
    EXPECT_EQ(reloading(123456789, "reloading"), "RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=reloading");
}

TEST(SdNotify, StoppingAndMainPid) {
    EXPECT_EQ(stopping("draining (SIGTERM)"), "STOPPING=1\nSTATUS=draining (SIGTERM)");
    EXPECT_EQ(main_pid(4242, "handed over"), "MAINPID=4242\nSTATUS=handed over");
}

TEST(SdNotify, NewlinesInAStatusCannotStartAnAssignment) {
    EXPECT_EQ(ready("bad config:\nMAINPID=1\r\n"), "READY=1\nSTATUS=bad config: MAINPID=1  ");
}

TEST(SdNotify, MonotonicUsecIsClockMonotonic) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto before = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000u;
    const auto now = monotonic_usec();
    EXPECT_GE(now, before);
    EXPECT_LT(now - before, 10'000'000u);
}

TEST(SdNotify, OnlyPathsAndAbstractNamesAreActive) {
    EXPECT_FALSE(notifier().active());
    EXPECT_FALSE(notifier("").active());
    EXPECT_FALSE(notifier("vsock:2:1234").active());
    EXPECT_FALSE(notifier("relative/path").send("READY=1"));
    EXPECT_TRUE(notifier("/run/systemd/notify").active());
    EXPECT_TRUE(notifier("@gatehouse-test").active());
}

// A datagram socket of the test's own, bound to `address` (a leading NUL: abstract).
class receiver {
public:
    explicit receiver(const std::string& address) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, address.data(), address.size());
        auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (address[0] == '\0' ? 0 : 1));
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0) << std::strerror(errno);
        timeval tv{5, 0};  // an upper bound: the datagram is already queued when send() returns
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~receiver() { ::close(fd_); }
    std::string receive() {
        char buf[4096];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<std::size_t>(n));
    }

private:
    int fd_ = -1;
};

TEST(SdNotify, SendsOneDatagramToAnAbstractName) {
    const std::string name = "gatehouse-sd-notify-test-" + std::to_string(::getpid());
    receiver r(std::string(1, '\0') + name);
    ASSERT_TRUE(notifier("@" + name).send(ready("up")));
    EXPECT_EQ(r.receive(), "READY=1\nSTATUS=up");
}

TEST(SdNotify, SendsOneDatagramToAPath) {
    char dir[] = "/tmp/gatehouse-sd-notify-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/notify";
    {
        receiver r(path);
        ASSERT_TRUE(notifier(path).send(stopping("bye")));
        EXPECT_EQ(r.receive(), "STOPPING=1\nSTATUS=bye");
    }
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST(SdNotify, NobodyListeningIsAFailedSendNotAnError) {
    EXPECT_FALSE(notifier("@gatehouse-sd-notify-nobody-" + std::to_string(::getpid())).send(ready("up")));
}

}  // namespace
}  // namespace gatehouse::server::sd_notify
