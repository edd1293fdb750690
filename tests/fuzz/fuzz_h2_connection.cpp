// The HTTP/2 connection end to end (src/http2/): the input is what a client sends after the
// connection preface (prepended unless the input starts with it), written over a real loopback
// TCP connection to http2::serve on a real worker. nghttp2 decodes it into our callbacks, each
// stream's head goes through stream::add_field and the request head building, the exchange
// answers locally (/local) or proxies to an in-process upstream that answers with a chunked body
// and trailers, or reads the body and never answers (/hang): request bodies are consumed and
// credited to the windows, streams are reset either way, and the client's close cancels what runs.
//
// Checked besides "no crash, no sanitizer report": the connection ends once the client closed
// (every stream coroutine finishes: a hang is a timeout finding), and every request head that
// reaches the upstream scans as a valid HTTP/1.1 head with valid fields (no h2 → h1 smuggling).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/snapshot.hpp"
#include "discovery/registry.hpp"
#include "fuzz_check.hpp"
#include "gatehouse/config/config.hpp"
#include "http1/head.hpp"
#include "http2/connection.hpp"
#include "middleware/registry.hpp"
#include "net/deadlines.hpp"
#include "net/io_buffer.hpp"
#include "net/listener_state.hpp"
#include "net/transport.hpp"
#include "server/worker.hpp"

namespace {

using namespace gatehouse;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Small limits, so inputs reach them: few streams, a small window, a small head limit.
constexpr const char* k_config = R"(
listeners:
  - name: public
    listen: 127.0.0.1:0
    http2: { max_concurrent_streams: 8, initial_stream_window: 4KiB, connection_window: 64KiB, max_requests_per_connection: 32 }
limits: { max_header_bytes: 2KiB, max_headers: 20, max_body_bytes: 32KiB }
routes:
  - name: local
    match: { path: /local }
    respond: { status: 200, body: "local answer" }
  - name: small
    match: { path_prefix: /small }
    upstream: u
    limits: { max_body_bytes: 100 }
  - name: all
    upstream: u
upstreams:
  - name: u
    discovery: { static: [127.0.0.1:UPSTREAM_PORT] }
)";

// The upstream: checks the first request head on each connection, then answers it (or, for
// /hang, reads and drops the body and never answers) and closes once gatehouse does.
asio::awaitable<void> upstream_connection(tcp::socket s) {
    std::string in;
    bool answered = false;
    char buf[16384];
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), nothrow);
        if (ec) break;
        if (answered) continue;
        in.append(buf, n);
        const auto end = in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const std::string_view head(in.data(), end + 4);
        http1::scan_limits limits;
        limits.max_headers = 1000;
        http1::request_head h;
        const auto problem = http1::scan_request(head, limits, h);
        if (problem) std::fprintf(stderr, "forwarded head:\n%.*s", static_cast<int>(head.size()), head.data());
        FUZZ_CHECK(!problem);  // a forwarded head is always valid HTTP/1.1
        for (auto& f : h.fields) FUZZ_CHECK(http1::field_name_problem(f.name, true) == nullptr);
        answered = true;
        if (h.path.starts_with("/hang")) continue;
        static constexpr std::string_view k_answer =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-trailer: t\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(k_answer), nothrow);
        if (wec) break;
        boost::system::error_code ignored;
        s.shutdown(tcp::socket::shutdown_send, ignored);
    }
}

asio::awaitable<void> upstream_server(tcp::acceptor& a) {
    for (;;) {
        auto [ec, s] = co_await a.async_accept(nothrow);
        if (ec) co_return;
        asio::co_spawn(a.get_executor(), upstream_connection(std::move(s)), asio::detached);
    }
}

struct fixture {
    asio::io_context* ioc = nullptr;
    std::unique_ptr<server::worker> worker;
    std::shared_ptr<net::listener_state> listener;
    std::unique_ptr<tcp::acceptor> front, upstream;
};

// Built once, and never destroyed: the worker's io_context keeps detached coroutines (the
// upstream's accept loop) that must not outlive what they use at exit.
fixture& setup() {
    static fixture& f = *[] {
        auto* fp = new fixture;
        auto& f = *fp;
        middleware::register_all();  // as main.cpp does: the loader knows the static discovery source
        discovery::register_all();
        // The upstream's port goes into the config: bound first, on an io_context of its own,
        // then handed to the worker's.
        asio::io_context probe;
        tcp::acceptor up(probe, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        const auto port = up.local_endpoint().port();
        std::string yaml = k_config;
        yaml.replace(yaml.find("UPSTREAM_PORT"), 13, std::to_string(port));
        auto loaded = config::load_string(yaml, "fuzz_h2.yaml");
        for (auto& d : loaded.diags.all()) std::fprintf(stderr, "%s\n", d.to_string().c_str());
        FUZZ_CHECK(loaded.config.has_value());
        config::diagnostics diags("fuzz_h2.yaml");
        auto snap = config::build_snapshot(std::move(*loaded.config), 1, diags);
        FUZZ_CHECK(snap != nullptr);
        f.worker = std::make_unique<server::worker>(0, snap);
        f.ioc = &f.worker->ioc();
        f.upstream = std::make_unique<tcp::acceptor>(*f.ioc, tcp::v4(), up.release());
        f.front = std::make_unique<tcp::acceptor>(*f.ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        f.listener = std::make_shared<net::listener_state>(tcp::acceptor(*f.ioc), snap->config.listeners.at(0), "fuzz", nullptr, nullptr);
        asio::co_spawn(*f.ioc, upstream_server(*f.upstream), asio::detached);
        // What discovery would publish (the daemon's control thread; posted to the worker's loop).
        auto set = std::make_shared<discovery::endpoint_set>();
        set->version = 1;
        discovery::endpoint ep;
        ep.address = "127.0.0.1";
        ep.port = port;
        ep.source = "static";
        set->endpoints.push_back(ep);
        f.worker->post_endpoints("u", set);
        f.ioc->poll();
        return fp;
    }();
    return f;
}

// The client: the bytes frame by frame (each write followed by a few turns of the event loop,
// so frames meet streams at different stages), the rest at once.
asio::awaitable<void> client_write(tcp::socket& s, std::string wire, bool& done) {
    std::string_view rest = wire;
    for (int frames = 0; !rest.empty(); ++frames) {
        std::size_t n = rest.size();
        if (frames > 0 && frames < 64 && rest.size() >= 9)
            n = std::min(rest.size(), 9 + ((std::size_t(std::uint8_t(rest[0])) << 16) | (std::size_t(std::uint8_t(rest[1])) << 8) |
                                           std::size_t(std::uint8_t(rest[2]))));
        else if (frames == 0)
            n = std::min(rest.size(), http2::k_preface.size());
        auto [ec, w] = co_await asio::async_write(s, asio::buffer(rest.data(), n), nothrow);
        if (ec) break;
        rest.remove_prefix(n);
        for (int i = 0; i < 4; ++i) co_await asio::post(s.get_executor(), asio::use_awaitable);
    }
    done = true;
}

asio::awaitable<void> client_read(tcp::socket& s, bool& done) {
    char buf[16384];
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), nothrow);
        if (ec) break;
    }
    done = true;
}

// gatehouse's side: what the HTTP/1.1 connection lends to http2::serve (client_connection.cpp).
asio::awaitable<void> serve(fixture& f, tcp::socket& sock, bool& done) {
    net::transport io(sock);
    net::deadline dl(f.worker->deadlines(), sock);
    net::io_buffer buf;
    http::connection_facts facts;
    facts.peer = "127.0.0.1";
    http2::connection_parts parts{*f.worker, f.listener, sock, io, dl, buf, facts};
    co_await http2::serve(std::move(parts));
    boost::system::error_code ignored;
    sock.close(ignored);
    done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& f = setup();
    auto input = fuzz::as_text(data, size);
    std::string wire = input.starts_with(http2::k_preface.substr(0, 18)) ? std::string() : std::string(http2::k_preface);
    wire.append(input);

    // Connected on the event loop: libFuzzer's timer signal interrupts a blocking connect (EINTR).
    tcp::socket client(*f.ioc), server(*f.ioc);
    boost::system::error_code cec, aec;
    bool connected = false, accepted = false;
    client.async_connect(f.front->local_endpoint(), [&](boost::system::error_code ec) {
        cec = ec;
        connected = true;
    });
    f.front->async_accept(server, [&](boost::system::error_code ec) {
        aec = ec;
        accepted = true;
    });
    while (!(connected && accepted)) f.ioc->run_one();
    FUZZ_CHECK(!cec && !aec);
    server.set_option(tcp::no_delay(true));
    client.set_option(tcp::no_delay(true));
    bool wrote = false, read = false, served = false;
    asio::co_spawn(*f.ioc, client_write(client, std::move(wire), wrote), asio::detached);
    asio::co_spawn(*f.ioc, client_read(client, read), asio::detached);
    asio::co_spawn(*f.ioc, serve(f, server, served), asio::detached);
    while (!wrote && !served) f.ioc->run_one();
    // Until nothing moves (loopback delivers within the sending call, so an event loop turn that
    // runs nothing means no socket has anything for anyone): the streams went as far as they go
    // (answered, or waiting for /hang's answer), then the client closes and what still runs is
    // cancelled.
    for (int quiet = 0; quiet < 2;) quiet = f.ioc->poll() ? 0 : quiet + 1;
    boost::system::error_code ignored;
    client.shutdown(tcp::socket::shutdown_send, ignored);
    while (!(wrote && read && served)) f.ioc->run_one();
    f.ioc->poll();  // what the end of the connection set off (upstream connections closing)
    return 0;
}
