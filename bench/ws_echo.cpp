// WebSocket echo load for bench/websocket.sh: what wrk cannot do.
//
//   gatehouse_ws_echo server PORT
//     accepts WebSocket handshakes (RFC 6455 §4.2: Sec-WebSocket-Accept from the key) and echoes
//     every frame back unmasked, as a server must; one thread, epoll.
//   gatehouse_ws_echo client HOST PORT PATH CONNECTIONS SECONDS [PAYLOAD_BYTES]
//     opens CONNECTIONS WebSockets (through the proxy under test), then on each one sends a
//     masked binary frame and waits for its echo, again and again. Prints wrk-like lines
//     ("N requests in", "Requests/sec", latency percentiles of one round trip) so
//     bench/common.sh's measure() reads it as it reads wrk (a "request" is one message echoed).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

bool send_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

std::string read_head(int fd) {  // blocking, up to the blank line
    std::string head;
    char c;
    while (head.size() < 8192 && ::recv(fd, &c, 1, 0) == 1) {
        head += c;
        if (head.ends_with("\r\n\r\n")) return head;
    }
    return {};
}

std::string accept_value(const std::string& key) {
    std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
    unsigned char out[64];
    int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

// ---- server ------------------------------------------------------------------------------

struct server_conn {
    std::string in;
};

// Echoes every complete frame in c.in back unmasked; keeps a partial frame.
void echo_frames(int fd, server_conn& c) {
    std::size_t pos = 0;
    std::string out;
    for (;;) {
        if (c.in.size() - pos < 2) break;
        auto b = reinterpret_cast<const unsigned char*>(c.in.data() + pos);
        std::uint64_t len = b[1] & 0x7f;
        std::size_t hdr = 2;
        if (len == 126) {
            if (c.in.size() - pos < 4) break;
            len = (std::uint64_t(b[2]) << 8) | b[3];
            hdr = 4;
        } else if (len == 127) {
            if (c.in.size() - pos < 10) break;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
            hdr = 10;
        }
        bool masked = b[1] & 0x80;
        std::size_t total = hdr + (masked ? 4 : 0) + len;
        if (c.in.size() - pos < total) break;
        out += static_cast<char>(b[0]);
        if (len < 126) out += static_cast<char>(len);
        else if (len < 65536) out += {char(126), char(len >> 8), char(len & 0xff)};
        else {
            out += char(127);
            for (int i = 7; i >= 0; --i) out += static_cast<char>((len >> (8 * i)) & 0xff);
        }
        const unsigned char* mask = b + hdr;
        const unsigned char* payload = b + hdr + (masked ? 4 : 0);
        for (std::uint64_t i = 0; i < len; ++i) out += static_cast<char>(masked ? payload[i] ^ mask[i % 4] : payload[i]);
        pos += total;
    }
    c.in.erase(0, pos);
    if (!out.empty()) send_all(fd, out.data(), out.size());
}

int run_server(int port) {
    int ls = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1024) != 0) {
        perror("bind");
        return 1;
    }
    int ep = epoll_create1(0);
    epoll_event ev{EPOLLIN, {.fd = ls}};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    std::vector<server_conn> conns(65536);
    std::vector<epoll_event> events(256);
    char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                int c = ::accept(ls, nullptr, nullptr);
                if (c < 0) continue;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                auto head = read_head(c);  // the handshake, blocking: it comes in one piece
                auto k = head.find("ec-WebSocket-Key:");
                if (k == std::string::npos) {
                    ::close(c);
                    continue;
                }
                auto v = head.substr(k + 17, head.find("\r\n", k) - k - 17);
                v.erase(0, v.find_first_not_of(' '));
                std::string resp =
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                    accept_value(v) + "\r\n\r\n";
                send_all(c, resp.data(), resp.size());
                conns[static_cast<std::size_t>(c)].in.clear();
                epoll_event cev{EPOLLIN, {.fd = c}};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                continue;
            }
            ssize_t r = ::recv(fd, buf, sizeof buf, 0);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
                ::close(fd);
                continue;
            }
            auto& c = conns[static_cast<std::size_t>(fd)];
            c.in.append(buf, static_cast<std::size_t>(r));
            echo_frames(fd, c);
        }
    }
}

// ---- client ------------------------------------------------------------------------------

struct client_conn {
    int fd;
    std::size_t got = 0;
    clock_type::time_point sent;
};

int run_client(const char* host, int port, const char* path, int conns, int seconds, std::size_t payload) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, host, &a.sin_addr);
    // One masked binary frame, built once; its echo comes back unmasked: 2 or 4 header bytes.
    std::string frame;
    frame += char(0x82);
    if (payload < 126) frame += static_cast<char>(0x80 | payload);
    else frame += {char(0x80 | 126), char(payload >> 8), char(payload & 0xff)};
    frame += {char(0x11), char(0x22), char(0x33), char(0x44)};
    for (std::size_t i = 0; i < payload; ++i) frame += static_cast<char>('a' ^ "\x11\x22\x33\x44"[i % 4]);
    const std::size_t echo_len = payload + (payload < 126 ? 2 : 4);

    int ep = epoll_create1(0);
    std::vector<client_conn> cs;
    int one = 1;
    for (int i = 0; i < conns; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            perror("connect");
            return 1;
        }
        std::string req = std::string("GET ") + path +
                          " HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        send_all(fd, req.data(), req.size());
        auto head = read_head(fd);
        if (head.find(" 101 ") == std::string::npos) {
            std::fprintf(stderr, "handshake refused: %s\n", head.c_str());
            return 1;
        }
        cs.push_back({fd, 0, clock_type::now()});
        epoll_event ev{EPOLLIN, {.u32 = static_cast<std::uint32_t>(i)}};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::vector<double> lat;
    lat.reserve(1 << 20);
    const auto start = clock_type::now(), end = start + std::chrono::seconds(seconds);
    for (auto& c : cs) {
        c.sent = clock_type::now();
        send_all(c.fd, frame.data(), frame.size());
    }
    std::vector<epoll_event> events(256);
    std::vector<char> buf(1 << 16);
    std::uint64_t done = 0;
    while (clock_type::now() < end) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            auto& c = cs[events[i].data.u32];
            ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
            if (r <= 0) {
                std::fprintf(stderr, "connection closed by the proxy\n");
                return 1;
            }
            c.got += static_cast<std::size_t>(r);
            if (c.got < echo_len) continue;
            c.got -= echo_len;
            auto now = clock_type::now();
            lat.push_back(std::chrono::duration<double, std::milli>(now - c.sent).count());
            ++done;
            c.sent = now;
            send_all(c.fd, frame.data(), frame.size());
        }
    }
    double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
        return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat.size())))];
    };
    std::printf("  %llu requests in %.2fs\n", static_cast<unsigned long long>(done), secs);
    std::printf("Requests/sec: %.2f\n", static_cast<double>(done) / secs);
    std::printf("     50%% %.3fms\n     99%% %.3fms\n", pct(0.5), pct(0.99));
    for (auto& c : cs) ::close(c.fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && std::strcmp(argv[1], "server") == 0) return run_server(std::atoi(argv[2]));
    if (argc >= 7 && std::strcmp(argv[1], "client") == 0)
        return run_client(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]), std::atoi(argv[6]),
                          argc > 7 ? std::strtoul(argv[7], nullptr, 10) : 64);
    std::fprintf(stderr, "usage: gatehouse_ws_echo server PORT | client HOST PORT PATH CONNECTIONS SECONDS [PAYLOAD_BYTES]\n");
    return 2;
}
