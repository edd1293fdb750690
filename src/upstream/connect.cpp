#include "observability/log_limit.hpp"
#include "upstream/connect.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gatehouse/util/net.hpp"
#include "upstream/pool.hpp"
#include "util/text.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;

std::string endpoint_host(const discovery::endpoint& ep) {
    std::string name = ep.name.empty() ? ep.address : std::string(util::host_without_port(ep.name));
    if (name.size() > 2 && name.front() == '[') name = name.substr(1, name.size() - 2);
    return name;
}

SSL* new_upstream_ssl(const cluster& def, const discovery::endpoint& ep) {
    SSL* ssl = SSL_new(def.tls_ctx.get());
    std::string name = def.tls_sni.empty() ? endpoint_host(ep) : def.tls_sni;
    bool is_ip = !!util::ip_address::parse(name);
    if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (def.tls_verify) {
        if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
        else SSL_set1_host(ssl, name.c_str());
    }
    return ssl;
}

asio::awaitable<failure> open_connection(cluster_state& cluster, upstream_connection& uc) {
    const auto& def = cluster.def();
    auto& ep = *uc.ep;
    uc.timer.arm(def.pool.connect_timeout);
    auto [ec] = co_await uc.socket.async_connect(ep.address, asio::as_tuple(asio::use_awaitable));
    if (ec) {
        if (auto* st = cluster.stats()) st->connect_failures.add();
        observability::warn_limited(ep.key, "upstream {}: connect to {} failed: {}", def.name, ep.key,
                                    uc.timer.fired() ? "timed out" : ec.message());
        co_return failure::connect;
    }
    boost::system::error_code ignored;
    uc.socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (!def.tls_ctx) co_return failure::none;
    SSL* ssl = new_upstream_ssl(def, ep.info);
    ep.tls_session.attach(ssl);
    auto hec = co_await uc.io.handshake(ssl, false);  // uc.io owns ssl from here
    if (hec) {
        if (auto* st = cluster.stats()) st->connect_failures.add();
        observability::warn_limited(ep.key, "upstream {}: TLS handshake with {} failed: {}", def.name, ep.key,
                                    uc.timer.fired() ? "timed out" : hec.message());
        co_return failure::tls;
    }
    co_return failure::none;
}

}  // namespace gatehouse::upstream
