#include "upstream/health_check.hpp"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "gatehouse/util/net.hpp"
#include "net/transport.hpp"
#include "upstream/connect.hpp"
#include "upstream/health_probe_h2.hpp"
#include "upstream/response_head_reader.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// One endpoint's checks: a loop that lives until `stopped`.
struct probe_loop {
    probe_loop(asio::io_context& ioc, discovery::endpoint e, std::shared_ptr<endpoint_health> h)
        : ep(std::move(e)), health(std::move(h)), timer(ioc) {}
    discovery::endpoint ep;
    std::shared_ptr<endpoint_health> health;
    asio::steady_timer timer;
    bool stopped = false;
    void stop() {
        stopped = true;
        timer.cancel();
    }
};

struct probe_result {
    bool passed = false;
    int status = 0;
    std::string error;
};

bool expected(const config::health_check_config& hc, int status) {
    for (auto& [lo, hi] : hc.expected_status)
        if (status >= lo && status <= hi) return true;
    return false;
}

// One check: connect, TLS if the upstream has it, GET (HTTP/2 upstreams: health_probe_h2.cpp),
// the response head; all within `timeout`.
asio::awaitable<probe_result> probe(std::shared_ptr<const cluster> def, discovery::endpoint ep) {
    const auto& hc = *def->health->health_check();
    auto ex = co_await asio::this_coro::executor;
    tcp::socket sock(ex);
    net::transport io{sock};
    asio::steady_timer deadline(ex, hc.timeout);
    bool timed_out = false;
    deadline.async_wait([&sock, &timed_out](boost::system::error_code ec) {
        if (ec) return;  // cancelled: the check ended first
        timed_out = true;
        boost::system::error_code ignored;
        sock.cancel(ignored);
    });
    auto fail = [&](std::string what) {
        deadline.cancel();
        return probe_result{false, 0, timed_out ? "timed out" : std::move(what)};
    };
    boost::system::error_code aec;
    auto addr = asio::ip::make_address(ep.address, aec);
    if (aec) co_return fail("bad address");
    auto [cec] = co_await sock.async_connect(tcp::endpoint(addr, ep.port), nothrow);
    if (cec) co_return fail("connect: " + cec.message());
    const std::string host = hc.host.empty() ? endpoint_host(ep) : hc.host;
    if (def->tls_ctx) {
        auto hec = co_await io.handshake(new_upstream_ssl(*def, ep), false);  // io owns the SSL from here
        if (hec) co_return fail("TLS: " + hec.message());
    }
    // An h2 upstream's endpoint whose ALPN answer was not h2 (protocol_fallback) gets HTTP/1.1.
    bool h2 = def->multiplexed();
    if (h2 && io.secure()) {
        const unsigned char* proto = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(io.ssl(), &proto, &len);
        h2 = std::string_view(reinterpret_cast<const char*>(proto), len) == "h2";
    }
    if (h2) {
        auto r = co_await h2_probe(io, hc, host, def->tls_ctx != nullptr);
        if (!r.ok) co_return fail(std::move(r.error));
        deadline.cancel();
        const bool ok = hc.grpc_service || expected(hc, r.status);
        co_return probe_result{ok, r.status, ok ? std::string() : "status " + std::to_string(r.status)};
    }
    std::string req = "GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
                      "\r\nUser-Agent: gatehouse-health-check\r\nConnection: close\r\n\r\n";
    auto [wec, wn] = co_await io.write(req);
    if (wec) co_return fail("write: " + wec.message());
    // The response head, read and judged by the request path's own reader and scanner.
    std::string got;
    char buf[4096];
    response_head_reader reader;
    http1::response_head head;
    for (;;) {
        auto p = reader.next(got, http1::scan_limits{}, false, head);
        if (p == response_head_reader::progress::done && head.status >= 200) break;
        if (p == response_head_reader::progress::done) {  // an interim answer: the final one follows
            got.erase(0, reader.head_len());
            continue;
        }
        if (p == response_head_reader::progress::invalid) co_return fail(std::string("invalid response: ") + reader.error().reason);
        if (p == response_head_reader::progress::too_large) co_return fail("response head too large");
        auto [rec, rn] = co_await io.read_some(buf, sizeof buf);
        if (rec) co_return fail(rec == asio::error::eof ? "closed before a response head" : "read: " + rec.message());
        got.append(buf, rn);
    }
    deadline.cancel();
    const int status = head.status;
    bool ok = expected(hc, status);
    co_return probe_result{ok, status, ok ? std::string() : "status " + std::to_string(status)};
}

asio::awaitable<void> run_checks(std::shared_ptr<probe_loop> loop, std::shared_ptr<const cluster> def) {
    const auto& hc = *def->health->health_check();
    std::minstd_rand rng(static_cast<unsigned>(std::hash<std::string>{}(loop->ep.key())));
    // Endpoints start their schedules apart (up to one interval), so checks do not come in bursts.
    loop->timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(hc.interval) * (rng() % 1000) / 10000);
    co_await loop->timer.async_wait(nothrow);
    while (!loop->stopped) {
        auto r = co_await probe(def, loop->ep);
        if (loop->stopped) break;
        auto& e = *loop->health;
        e.last_status = r.status;
        e.last_error = r.error;
        if (def->health->check_result(e, r.passed, std::chrono::steady_clock::now())) {
            if (r.passed) spdlog::info("upstream {}: endpoint {} passed its health checks: back in rotation", def->name, e.key);
            else spdlog::warn("upstream {}: endpoint {} failed its health checks ({}): out of rotation", def->name, e.key, r.error);
        }
        loop->timer.expires_after(hc.interval);
        co_await loop->timer.async_wait(nothrow);
    }
}

}  // namespace

struct health_checker::target {
    std::shared_ptr<const cluster> def;
    std::map<std::string, std::shared_ptr<probe_loop>> loops;  // by endpoint key
    bool seen_set = false;
    ~target() {
        for (auto& [k, l] : loops) l->stop();
    }
};

health_checker::health_checker(asio::io_context& control) : control_(control) {}
health_checker::~health_checker() { stop_all(); }

void health_checker::stop_all() { targets_.clear(); }

void health_checker::reconcile(const std::vector<std::shared_ptr<const cluster>>& clusters, const current_set& sets) {
    std::map<std::string, std::shared_ptr<target>> next;
    for (auto& c : clusters) {
        if (!c->health || !c->health->health_check()) continue;
        auto it = targets_.find(c->name);
        if (it != targets_.end() && it->second->def->health == c->health) {
            it->second->def = c;  // same checks and verdicts; the newer definition (TLS files)
            next[c->name] = std::move(it->second);
            continue;
        }
        auto t = std::make_shared<target>();
        t->def = c;
        if (auto set = sets(c->name)) update(*t, *set);
        next[c->name] = std::move(t);
    }
    targets_ = std::move(next);  // the ones left behind stop with their targets
}

void health_checker::on_endpoints(const std::string& upstream, std::shared_ptr<const discovery::endpoint_set> set) {
    auto it = targets_.find(upstream);
    if (it != targets_.end() && set) update(*it->second, *set);
}

void health_checker::update(target& t, const discovery::endpoint_set& set) {
    std::map<std::string, std::shared_ptr<probe_loop>> next;
    const bool initial = !t.seen_set;
    t.seen_set = true;
    for (auto& ep : set.endpoints) {
        auto key = ep.key();
        if (auto it = t.loops.find(key); it != t.loops.end()) {
            it->second->ep = ep;
            next[key] = std::move(it->second);
            t.loops.erase(it);
            continue;
        }
        auto loop = std::make_shared<probe_loop>(control_, ep, t.def->health->endpoint(key, initial, std::chrono::steady_clock::now()));
        asio::co_spawn(control_, run_checks(loop, t.def), asio::detached);
        next[key] = std::move(loop);
    }
    for (auto& [k, l] : t.loops) l->stop();
    t.loops = std::move(next);
}

}  // namespace gatehouse::upstream
