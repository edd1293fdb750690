#include "server/handover.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <cstring>
#include <sstream>

namespace gatehouse::server {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {
constexpr std::size_t k_max_fds = 250;  // SCM_MAX_FD is 253
constexpr const char* k_magic = "gatehouse-handover 1";
}  // namespace

handover_server::handover_server(asio::io_context& ioc, std::string path, std::function<std::vector<inherited_socket>()> sockets,
                                 std::function<void(pid_t)> on_handed_over)
    : path_(std::move(path)), acceptor_(ioc), sockets_(std::move(sockets)), on_handed_over_(std::move(on_handed_over)) {
    ::unlink(path_.c_str());  // a stale socket file of ours, or the previous generation's
    acceptor_.open();
    acceptor_.bind(local::endpoint(path_));
    ::chmod(path_.c_str(), 0600);
    acceptor_.listen();
    accept();
}

handover_server::~handover_server() {
    boost::system::error_code ec;
    acceptor_.close(ec);
}

void handover_server::accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, local::socket sock) {
        if (ec) return;
        auto conn = std::make_shared<local::socket>(std::move(sock));
        auto socks = sockets_();
        std::string text = std::string(k_magic) + " " + std::to_string(socks.size()) + "\n";
        for (auto& s : socks) text += s.key + "\n";
        std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(1, socks.size())));
        iovec iov{text.data(), text.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (!socks.empty()) {
            msg.msg_control = control.data();
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * socks.size());
            auto* cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * socks.size());
            for (std::size_t i = 0; i < socks.size(); ++i) std::memcpy(CMSG_DATA(cm) + i * sizeof(int), &socks[i].fd, sizeof(int));
        }
        if (socks.size() > k_max_fds || ::sendmsg(conn->native_handle(), &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
            spdlog::error("binary upgrade: could not pass the listening sockets: {}", std::strerror(errno));
            accept();
            return;
        }
        spdlog::info("binary upgrade: passed {} listening socket(s) to a new process; waiting for it to serve", socks.size());
        auto buf = std::make_shared<asio::streambuf>();
        asio::async_read_until(*conn, *buf, '\n', [this, conn, buf](boost::system::error_code e, std::size_t) {
            std::string line;
            std::istream is(buf.get());
            std::getline(is, line);
            if (!e && line == "serving") {
                ucred peer{};
                socklen_t len = sizeof peer;
                if (::getsockopt(conn->native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) peer.pid = 0;
                spdlog::info("binary upgrade: the new process is serving (pid {}); draining this one", peer.pid);
                on_handed_over_(peer.pid);
                return;
            }
            spdlog::warn("binary upgrade: the new process did not start; this one keeps serving");
            accept();
        });
    });
}

std::optional<takeover> take_over(const std::string& path, std::string& error) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        error = "upgrade socket path too long";
        ::close(fd);
        return std::nullopt;
    }
    std::strcpy(addr.sun_path, path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return std::nullopt;  // nobody is serving: a first start
    }
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<char> data(64 * 1024);
    std::vector<char> control(CMSG_SPACE(sizeof(int) * k_max_fds));
    iovec iov{data.data(), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) {
        error = "the running process did not send its sockets";
        ::close(fd);
        return std::nullopt;
    }
    std::vector<int> fds;
    for (auto* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int f;
            std::memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            fds.push_back(f);
        }
    }
    std::istringstream in(std::string(data.data(), static_cast<std::size_t>(n)));
    std::string line;
    std::getline(in, line);
    takeover t;
    t.connection = fd;
    if (!line.starts_with(k_magic)) {
        error = "unexpected handover greeting";
        for (int f : fds) ::close(f);
        t.abandon();
        return std::nullopt;
    }
    for (int f : fds) {
        if (!std::getline(in, line)) break;
        t.sockets.push_back({line, f});
    }
    return t;
}

void takeover::confirm() {
    if (connection < 0) return;
    (void)!::write(connection, "serving\n", 8);
    ::close(connection);
    connection = -1;
}

void takeover::abandon() {
    if (connection < 0) return;
    ::close(connection);
    connection = -1;
}

}  // namespace gatehouse::server
