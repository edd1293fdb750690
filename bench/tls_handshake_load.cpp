// HTTPS load with one full TLS handshake per request: what wrk and h2load cannot do, since both
// resume every session they can. C connections, each: connect, full handshake (no session
// offered), one GET with Connection: close, read to the end, close, again.
// Prints wrk-like lines (Requests/sec, "N requests in", latency percentiles of the whole
// connection) so bench/common.sh's measure() reads it like wrk's output.
//
// usage: gatehouse_tls_load HOST PORT PATH CONNECTIONS SECONDS
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct conn {
    int fd = -1;
    SSL* ssl = nullptr;
    enum { connecting, handshaking, writing, reading } state = connecting;
    std::size_t written = 0;
    bool first_read = true;
    clock_type::time_point start;
};

struct load {
    SSL_CTX* ctx;
    sockaddr_in addr{};
    std::string request;
    int ep = -1;
    std::vector<double> latencies_ms;
    std::size_t errors = 0, non_2xx = 0;

    void open(conn& c) {
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c.start = clock_type::now();
        c.written = 0;
        c.first_read = true;
        c.ssl = SSL_new(ctx);
        SSL_set_fd(c.ssl, c.fd);
        SSL_set_connect_state(c.ssl);
        c.state = conn::connecting;
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
            fail(c);
            return;
        }
        epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLET, {.ptr = &c}};
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }

    void close(conn& c) {
        SSL_free(c.ssl);
        ::close(c.fd);  // also leaves the epoll set
        c.ssl = nullptr;
        c.fd = -1;
    }

    void fail(conn& c) {
        ++errors;
        ERR_clear_error();
        close(c);
        open(c);
    }

    // Advances one connection as far as it goes without blocking.
    void step(conn& c) {
        for (;;) {
            int r = 1;
            switch (c.state) {
                case conn::connecting: {
                    int err = 0;
                    socklen_t len = sizeof err;
                    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err == EINPROGRESS) return;
                    if (err != 0) return fail(c);
                    c.state = conn::handshaking;
                    continue;
                }
                case conn::handshaking:
                    r = SSL_do_handshake(c.ssl);
                    if (r == 1) {
                        c.state = conn::writing;
                        continue;
                    }
                    break;
                case conn::writing: {
                    std::size_t n = 0;
                    r = SSL_write_ex(c.ssl, request.data() + c.written, request.size() - c.written, &n);
                    if (r == 1) {
                        c.written += n;
                        if (c.written == request.size()) c.state = conn::reading;
                        continue;
                    }
                    break;
                }
                case conn::reading: {
                    char buf[16384];
                    std::size_t n = 0;
                    r = SSL_read_ex(c.ssl, buf, sizeof buf, &n);
                    if (r == 1) {
                        if (c.first_read && (n < 10 || std::memcmp(buf, "HTTP/1.1 2", 10) != 0)) ++non_2xx;
                        c.first_read = false;
                        continue;
                    }
                    int e = SSL_get_error(c.ssl, r);
                    if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
                        // the server closed after its response (close_notify or not): one request done
                        latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - c.start).count());
                        ERR_clear_error();
                        close(c);
                        open(c);
                        return;
                    }
                    break;
                }
            }
            int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;  // the next edge resumes it
            return fail(c);
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    const int a = 1;
    if (argc != 6) {
        std::fprintf(stderr, "usage: gatehouse_tls_load HOST PORT PATH CONNECTIONS SECONDS\n");
        return 2;
    }
    load l;
    l.ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(l.ctx, SSL_VERIFY_NONE, nullptr);  // as wrk: the peers are ours
    SSL_CTX_set_session_cache_mode(l.ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(l.ctx, SSL_OP_NO_TICKET);
    l.addr.sin_family = AF_INET;
    l.addr.sin_port = htons(static_cast<uint16_t>(std::stoi(argv[a + 1])));
    inet_pton(AF_INET, argv[a], &l.addr.sin_addr);
    l.request = std::string("GET ") + argv[a + 2] + " HTTP/1.1\r\nHost: " + argv[a] + "\r\nConnection: close\r\n\r\n";
    int n = std::stoi(argv[a + 3]);
    double seconds = std::stod(argv[a + 4]);
    l.ep = epoll_create1(0);
    std::vector<conn> conns(static_cast<std::size_t>(n));
    for (auto& c : conns) l.open(c);
    auto t0 = clock_type::now();
    auto end = t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    epoll_event evs[256];
    while (clock_type::now() < end) {
        int k = epoll_wait(l.ep, evs, 256, 100);
        for (int i = 0; i < k; ++i) l.step(*static_cast<conn*>(evs[i].data.ptr));
    }
    double took = std::chrono::duration<double>(clock_type::now() - t0).count();
    auto& lat = l.latencies_ms;
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))]; };
    std::printf("  %zu requests in %.2fs (full handshakes)\n", lat.size(), took);
    std::printf("     50%%   %.2fms\n     99%%   %.2fms\n", pct(0.50), pct(0.99));
    if (l.errors) std::printf("  Socket errors: %zu\n", l.errors);
    if (l.non_2xx) std::printf("  Non-2xx or 3xx responses: %zu\n", l.non_2xx);
    std::printf("Requests/sec: %.2f\n", static_cast<double>(lat.size()) / took);
    return 0;
}
