#include "observability/otlp_exporter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "discovery/dns/resolver.hpp"
#include "observability/log_limit.hpp"
#include "observability/otlp_encode.hpp"

namespace gatehouse::observability {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto k_tick = std::chrono::milliseconds(100);
constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);

// Where one export goes.
struct export_target {
    tcp::endpoint ep;
    std::chrono::steady_clock::duration timeout;
    std::shared_ptr<ssl_ctx_st> tls;  // https://: the tracer's context; null: plain HTTP
    std::string server_name;          // https://: SNI and the name verified
};

std::string request_head(const config::otlp_config& c, std::size_t body_size) {
    std::string h = "POST " + c.target + " HTTP/1.1\r\nHost: " + c.host + ':' + c.port + "\r\nContent-Type: ";
    h += c.encoding == config::otlp_config::encoding_kind::json ? "application/json" : "application/x-protobuf";
    h += "\r\nContent-Length: " + std::to_string(body_size) + "\r\nConnection: close\r\nUser-Agent: gatehouse/" GATEHOUSE_VERSION "\r\n";
    for (auto& [k, v] : c.headers) h += k + ": " + v + "\r\n";
    h += "\r\n";
    return h;
}

// The status code of a response head ("HTTP/1.1 200 ..."), 0 when it is not one.
int status_of(std::string_view head) {
    if (head.size() < 12 || !head.starts_with("HTTP/1.")) return 0;
    int s = 0;
    for (char c : head.substr(9, 3)) {
        if (c < '0' || c > '9') return 0;
        s = s * 10 + (c - '0');
    }
    return s;
}

// Writes the request and reads the response head; `why` says what failed (empty: nothing).
template <class Stream>
asio::awaitable<void> post_over(Stream& stream, const std::string& request, std::string& response, std::string& why) {
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), nothrow_awaitable);
    if (wec) why = "write: " + wec.message();
    while (why.empty() && response.find("\r\n\r\n") == std::string::npos && response.size() < 65536) {
        char buf[4096];
        auto [rec, rn] = co_await stream.async_read_some(asio::buffer(buf), nothrow_awaitable);
        response.append(buf, rn);
        if (rec) why = response.empty() ? "read: " + rec.message() : std::string();
        if (rec) break;
    }
}

// The TLS handshake (SNI and the name verified: tls.sni, else the host) and the POST over it.
asio::awaitable<void> post_over_tls(tcp::socket& sock, const export_target& to, const std::string& request, std::string& response,
                                    std::string& why) {
    SSL* ssl = SSL_new(to.tls.get());
    if (!ssl) {
        why = "TLS: cannot create a session";
        co_return;
    }
    boost::system::error_code ip_ec;
    asio::ip::make_address(to.server_name, ip_ec);
    if (ip_ec) {
        SSL_set_tlsext_host_name(ssl, to.server_name.c_str());
        SSL_set1_host(ssl, to.server_name.c_str());
    } else {
        // An IP literal: no SNI (RFC 6066 §3), and the certificate must name the address.
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), to.server_name.c_str());
    }
    asio::ssl::stream<tcp::socket&> tls(sock, ssl);
    auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, nothrow_awaitable);
    if (hec) {
        why = "TLS: " + hec.message();
        if (auto v = SSL_get_verify_result(ssl); v != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
        co_return;
    }
    co_await post_over(tls, request, response, why);
    // No close_notify wait: the response head is all we need and the socket closes next.
}

// One POST on a fresh connection; the timer closes the socket when `timeout` passes.
asio::awaitable<void> post_export(std::shared_ptr<otlp_exporter> self, export_target to, std::string request, std::size_t spans) {
    auto ex = co_await asio::this_coro::executor;
    auto sock = std::make_shared<tcp::socket>(ex);
    asio::steady_timer deadline(ex, to.timeout);
    deadline.async_wait([sock](boost::system::error_code ec) {
        boost::system::error_code ignored;
        if (!ec) sock->close(ignored);
    });
    std::string why, response;
    int status = 0;
    auto [cec] = co_await sock->async_connect(to.ep, nothrow_awaitable);
    if (cec) why = "connect: " + cec.message();
    if (why.empty() && to.tls) co_await post_over_tls(*sock, to, request, response, why);
    else if (why.empty()) co_await post_over(*sock, request, response, why);
    deadline.cancel();
    if (why.empty()) {
        status = status_of(response);
        if (status < 200 || status > 299) why = "HTTP " + std::to_string(status);
    }
    boost::system::error_code ignored;
    sock->close(ignored);
    self->export_done(why.empty(), spans, why);
}

}  // namespace

otlp_exporter::otlp_exporter(asio::io_context& control) : control_(control), timer_(control), flush_timer_(control) {}

otlp_exporter::~otlp_exporter() {
    if (resolver_) resolver_->shutdown();
}

void otlp_exporter::use(std::shared_ptr<tracer> t) {
    if (t == current_) return;
    current_ = t;
    if (!t) return;
    for (auto it = sources_.begin(); it != sources_.end(); ++it)
        if (it->t == t) {
            std::rotate(sources_.begin(), it, it + 1);  // known: to the front
            return;
        }
    sources_.insert(sources_.begin(), source{std::move(t), std::chrono::steady_clock::now()});
}

void otlp_exporter::start() { tick(); }

void otlp_exporter::flush(std::function<void()> done) {
    flushing_ = true;
    flushed_ = std::move(done);
    flush_timer_.expires_after(current_ ? current_->settings().timeout : config::duration(std::chrono::seconds(5)));
    flush_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->finish_flush();
    });
    if (!in_flight_) continue_flush();
}

void otlp_exporter::continue_flush() {
    for (auto& s : sources_)
        if (maybe_export(s, std::chrono::steady_clock::now())) return;
    finish_flush();
}

void otlp_exporter::finish_flush() {
    if (!flushed_) return;
    auto done = std::move(flushed_);
    flushed_ = nullptr;
    timer_.cancel();
    flush_timer_.cancel();
    done();
}

std::uint64_t otlp_exporter::dropped() const {
    std::uint64_t d = retired_dropped_pub_.load(std::memory_order_relaxed) + failed_spans_.load(std::memory_order_relaxed);
    // sources_ belongs to the control thread, as does the scrape that asks.
    for (auto& s : sources_) d += s.t->dropped();
    return d;
}

void otlp_exporter::tick() {
    if (flushing_) return;
    const auto now = std::chrono::steady_clock::now();
    for (auto& s : sources_)
        if (!in_flight_ && maybe_export(s, now)) break;
    // A tracer no snapshot uses any more, drained: forgotten (its drops counted on).
    for (auto it = sources_.begin(); it != sources_.end();) {
        std::size_t pending = 0;
        for (auto& r : it->t->rings()) pending += r->available();
        if (it->t != current_ && it->t.use_count() == 1 && pending == 0) {
            retired_dropped_ += it->t->dropped();
            retired_dropped_pub_.store(retired_dropped_, std::memory_order_relaxed);
            it = sources_.erase(it);
        } else ++it;
    }
    timer_.expires_after(k_tick);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->tick();
    });
}

// Exports one batch of `s` when it is full or its oldest span has waited `delay`. True: started.
bool otlp_exporter::maybe_export(source& s, std::chrono::steady_clock::time_point now) {
    const auto& c = s.t->settings();
    std::size_t pending = 0;
    for (auto& r : s.t->rings()) pending += r->available();
    if (pending == 0) {
        s.last_export = now;  // the delay counts from when a span is waiting
        return false;
    }
    if (pending < c.max_batch && now - s.last_export < c.delay && !flushing_) return false;
    s.last_export = now;
    batch_.clear();
    std::vector<std::size_t> taken;
    for (auto& r : s.t->rings()) {
        const auto n = std::min(r->available(), c.max_batch - batch_.size());
        for (std::size_t i = 0; i < n; ++i) batch_.push_back(&r->at(i));
        taken.push_back(n);
    }
    std::string body;
    if (c.encoding == config::otlp_config::encoding_kind::json) encode_otlp_json(batch_, c.resource, body);
    else encode_otlp_protobuf(batch_, c.resource, body);
    for (std::size_t i = 0; i < taken.size(); ++i) s.t->rings()[i]->release(taken[i]);
    const auto spans = batch_.size();
    batch_.clear();
    send(*s.t, request_head(c, body.size()) + body, spans);
    return true;
}

void otlp_exporter::send(const tracer& t, std::string request, std::size_t spans) {
    const auto& c = t.settings();
    in_flight_ = true;
    export_target to;
    to.ep.port(static_cast<std::uint16_t>(std::stoul(c.port)));
    to.timeout = c.timeout;
    to.tls = t.tls();
    to.server_name = c.tls_sni.empty() ? c.host : c.tls_sni;
    if (c.https && !to.tls) {  // never fall back to plain text for an https:// endpoint
        export_done(false, spans, "TLS: no client context (OpenSSL could not create one)");
        return;
    }
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(c.host, ec);
    if (!ec) {
        to.ep.address(ip);
        asio::co_spawn(control_, post_export(shared_from_this(), std::move(to), std::move(request), spans), asio::detached);
        return;
    }
    if (!resolver_) {
        try {
            resolver_ = discovery::dns::resolver::create(control_, {}, std::chrono::duration_cast<std::chrono::milliseconds>(c.timeout));
        } catch (const std::exception& e) {
            export_done(false, spans, std::string("DNS: ") + e.what());
            return;
        }
    }
    resolver_->lookup(c.host, discovery::dns::family::any,
                      [self = shared_from_this(), request = std::move(request), to = std::move(to),
                       spans](std::string error, std::vector<discovery::dns::address> addresses) mutable {
                          boost::system::error_code ec;
                          auto ip = addresses.empty() ? asio::ip::address{} : asio::ip::make_address(addresses.front().ip, ec);
                          if (!error.empty() || addresses.empty() || ec) {
                              self->export_done(false, spans, "DNS: " + (error.empty() ? std::string("no address") : error));
                              return;
                          }
                          to.ep.address(ip);
                          asio::co_spawn(self->control_, post_export(self, std::move(to), std::move(request), spans), asio::detached);
                      });
}

void otlp_exporter::export_done(bool ok, std::size_t spans, const std::string& why) {
    in_flight_ = false;
    if (ok) {
        exported_.fetch_add(spans, std::memory_order_relaxed);
    } else {
        failures_.fetch_add(1, std::memory_order_relaxed);
        failed_spans_.fetch_add(spans, std::memory_order_relaxed);
        warn_limited("otlp-export", "tracing: export of {} span(s) failed: {}", spans, why);
    }
    if (flushing_) return continue_flush();
    // More than a batch waiting: the next one at once rather than at the next tick.
    for (auto& s : sources_)
        if (maybe_export(s, std::chrono::steady_clock::now())) break;
}

}  // namespace gatehouse::observability
