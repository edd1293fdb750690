#include "observability/tracing.hpp"

#include <charconv>
#include <cstring>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "observability/trace_context.hpp"

namespace gatehouse::observability {

namespace {
// The exporter's TLS client: TLS 1.2 or later, the collector's certificate verified against
// tls.ca (or the system store); the name is checked per connection (otlp_exporter.cpp).
std::shared_ptr<ssl_ctx_st> otlp_tls_context(const config::otlp_config& c) {
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx) return ctx;
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (c.tls_ca.empty()) SSL_CTX_set_default_verify_paths(ctx.get());
    else if (SSL_CTX_load_verify_locations(ctx.get(), c.tls_ca.c_str(), nullptr) != 1)
        spdlog::error("tracing: cannot load the CA bundle '{}' for {}: exports will fail verification", c.tls_ca, c.endpoint);
    return ctx;
}
}  // namespace

span_ring::span_ring(std::size_t capacity)
    : slots_(new span_record[capacity == 0 ? 1 : capacity]), capacity_(capacity == 0 ? 1 : capacity) {}

bool span_ring::push(const span_record& r) {
    const auto h = head_.load(std::memory_order_relaxed);
    if (h - cached_tail_ >= capacity_) {
        cached_tail_ = tail_pub_.load(std::memory_order_acquire);
        if (h - cached_tail_ >= capacity_) {
            dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return false;
        }
    }
    slots_[h % capacity_] = r;  // the slot's strings keep their capacity: no allocation once warm
    head_.store(h + 1, std::memory_order_release);
    return true;
}

tracer::tracer(const config::otlp_config& settings, unsigned workers)
    : settings_(settings), identity_(identity_of(settings)), workers_(workers == 0 ? 1 : workers) {
    for (unsigned i = 0; i < workers_ + 1; ++i) rings_.push_back(std::make_unique<span_ring>(settings.max_queue));
    if (settings.https) tls_ = otlp_tls_context(settings);
}

std::uint64_t tracer::dropped() const {
    std::uint64_t d = 0;
    for (auto& r : rings_) d += r->dropped();
    return d;
}

std::string tracer::identity_of(const config::otlp_config& c) {
    std::string id = c.endpoint + '\n' + (c.encoding == config::otlp_config::encoding_kind::json ? "json" : "protobuf");
    for (auto& [k, v] : c.headers) id += '\n' + k + ':' + v;
    for (auto& [k, v] : c.resource) id += '\n' + k + '=' + v;
    if (c.https) id += "\ntls " + c.tls_ca + ' ' + c.tls_sni;
    id += '\n' + std::to_string(c.timeout.count()) + ' ' + std::to_string(c.max_queue) + ' ' + std::to_string(c.max_batch) + ' ' +
          std::to_string(c.delay.count());
    return id;
}


std::uint64_t unix_now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void client_spans::begin_try() {
    if (tries_ > 0) {  // a retry or a resend: a span of its own, and the upstream sees its id
        hex16(random(random_state), record.span_id);
        if (span_hex) std::memcpy(span_hex, record.span_id, 16);
    }
    record.resend = tries_++;
    started_ = std::chrono::steady_clock::now();
    record.start_ns = wall_base_ns +
                      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(started_ - steady_base).count());
    in_try_ = true;
}

void client_spans::end_try(std::string_view error_type, int status, std::string_view endpoint) {
    if (!in_try_) return;
    in_try_ = false;
    record.end_ns = record.start_ns +
                    static_cast<std::uint64_t>(
                        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_).count());
    record.status_code = status;
    record.error_type.assign(error_type);
    if (record.error_type.empty() && status >= 400) {  // a CLIENT span's 4xx is an error too (HTTP semantic conventions)
        char buf[8];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, status);
        record.error_type.assign(buf, p);
    }
    record.error = !record.error_type.empty();
    // "ip:port" or "[ipv6]:port": network.peer.address and network.peer.port.
    auto colon = endpoint.rfind(':');
    auto host = endpoint.substr(0, colon == std::string_view::npos ? endpoint.size() : colon);
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    record.peer_address.assign(host);
    record.peer_port = 0;
    if (colon != std::string_view::npos) std::from_chars(endpoint.data() + colon + 1, endpoint.data() + endpoint.size(), record.peer_port);
    if (ring) ring->push(record);
}

}  // namespace gatehouse::observability
