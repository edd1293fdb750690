// A fast gRPC upstream for bench/grpc.sh: Debian has no gRPC server that keeps up with a proxy
// (python3-grpcio manages a few thousand calls per second), so this answers every call, whatever
// its method and body, with one fixed grpc.testing.SimpleResponse (a payload of RESPONSE_BYTES
// zeros) and the trailers grpc-status: 0, over h2c (prior knowledge). One thread, epoll, libnghttp2.
//
//   gatehouse_grpc_responder PORT [RESPONSE_BYTES]
//
// Prints "READY PORT" once it listens on 127.0.0.1. Not a gRPC implementation: no deadlines, no
// flow-control tuning beyond nghttp2's defaults, request messages are read and dropped.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

std::string g_response;  // the length-prefixed message of every answer

// The gRPC message: 0 (not compressed), big-endian length, then SimpleResponse{payload{body}}.
std::string make_response(std::size_t bytes) {
    auto varint = [](std::size_t v) {
        std::string out;
        while (v >= 0x80) {
            out += static_cast<char>((v & 0x7f) | 0x80);
            v >>= 7;
        }
        out += static_cast<char>(v);
        return out;
    };
    std::string payload = "\x12" + varint(bytes) + std::string(bytes, '\0');  // Payload.body = 2
    std::string msg = "\x0a" + varint(payload.size()) + payload;             // SimpleResponse.payload = 1
    std::string out(5, '\0');
    const auto n = static_cast<std::uint32_t>(msg.size());
    out[1] = static_cast<char>(n >> 24);
    out[2] = static_cast<char>(n >> 16);
    out[3] = static_cast<char>(n >> 8);
    out[4] = static_cast<char>(n);
    return out + msg;
}

bool send_all(int fd, const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

nghttp2_nv header(const char* name, const char* value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name)), reinterpret_cast<std::uint8_t*>(const_cast<char*>(value)),
            std::strlen(name), std::strlen(value), NGHTTP2_NV_FLAG_NONE};
}

// The whole message in one DATA frame without END_STREAM, then the trailers end the stream.
ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                  nghttp2_data_source*, void*) {
    const std::size_t n = std::min(length, g_response.size());
    std::memcpy(buf, g_response.data(), n);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    std::array<nghttp2_nv, 1> trailers{header("grpc-status", "0")};
    nghttp2_submit_trailer(session, stream_id, trailers.data(), trailers.size());
    return static_cast<ssize_t>(n);
}

int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void*) {
    const bool request_ends = (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
                              (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (!request_ends) return 0;
    std::array<nghttp2_nv, 2> headers{header(":status", "200"), header("content-type", "application/grpc")};
    nghttp2_data_provider body{};
    body.read_callback = read_body;
    nghttp2_submit_response(session, frame->hd.stream_id, headers.data(), headers.size(), &body);
    return 0;
}

nghttp2_session* new_session() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session* s = nullptr;
    nghttp2_session_server_new(&s, cb, nullptr);
    nghttp2_session_callbacks_del(cb);
    std::array<nghttp2_settings_entry, 1> settings{{{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}}};
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    return s;
}

// Writes what the session has queued; false once the connection is done.
bool flush(int fd, nghttp2_session* s) {
    for (;;) {
        const std::uint8_t* data = nullptr;
        ssize_t n = nghttp2_session_mem_send(s, &data);
        if (n < 0) return false;
        if (n == 0) break;
        if (!send_all(fd, data, static_cast<std::size_t>(n))) return false;
    }
    return nghttp2_session_want_read(s) || nghttp2_session_want_write(s);
}

int listen_on(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) {
        std::perror("listen");
        std::exit(1);
    }
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PORT [RESPONSE_BYTES]\n", argv[0]);
        return 2;
    }
    g_response = make_response(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 32);
    const int lfd = listen_on(std::atoi(argv[1]));
    const int ep = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    std::unordered_map<int, nghttp2_session*> sessions;
    std::printf("READY %s\n", argv[1]);
    std::fflush(stdout);
    std::array<epoll_event, 256> events{};
    std::array<std::uint8_t, 65536> buf{};
    for (;;) {
        const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[static_cast<std::size_t>(i)].data.fd;
            if (fd == lfd) {
                const int c = ::accept(lfd, nullptr, nullptr);
                if (c < 0) continue;
                int one = 1;
                ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                ev.data.fd = c;
                ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                sessions[c] = new_session();
                flush(c, sessions[c]);
                continue;
            }
            nghttp2_session* s = sessions[fd];
            const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
            const bool alive = r > 0 && nghttp2_session_mem_recv(s, buf.data(), static_cast<std::size_t>(r)) >= 0 && flush(fd, s);
            if (!alive) {
                ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
                ::close(fd);
                nghttp2_session_del(s);
                sessions.erase(fd);
            }
        }
    }
}
