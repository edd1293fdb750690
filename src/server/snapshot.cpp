#include "server/snapshot.hpp"

#include "observability/access_log.hpp"
#include "tls/server_context.hpp"
#include "upstream/tls_session.hpp"
#include "observability/metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace gatehouse::server {

namespace asio = boost::asio;

std::shared_ptr<const snapshot> build_snapshot(config::gateway_config cfg, std::uint64_t generation, config::diagnostics& diags,
                                               const snapshot_services& services) {
    auto snap = std::make_shared<snapshot>();
    snap->generation = generation;
    snap->scan_limits.max_headers = cfg.limits.max_headers;
    snap->scan_limits.max_request_line = cfg.limits.max_request_line;

    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    for (std::size_t i = 0; i < cfg.upstreams.size(); ++i) {
        const auto& u = cfg.upstreams[i];
        auto c = std::make_shared<cluster>();
        c->name = u.name;
        c->lb = u.load_balancer;
        c->pool = u.pool;
        c->identity = u.name + "|" + std::to_string(static_cast<int>(u.load_balancer.policy)) + "|" + u.load_balancer.hash_header + "|" +
                      std::to_string(u.pool.max_connections) + "|" + std::to_string(u.pool.max_pending) + "|" +
                      std::to_string(u.pool.idle_timeout.count()) + "|" + std::to_string(u.pool.connect_timeout.count());
        for (auto& e : u.endpoints) {
            boost::system::error_code ec;
            auto results = resolver.resolve(e.address.host, std::to_string(e.address.port), asio::ip::resolver_base::numeric_service, ec);
            if (ec || results.empty()) {
                diags.error(u.mark, "upstreams[" + std::to_string(i) + "]", "cannot resolve '" + e.address.host + "': " + ec.message());
                continue;
            }
            c->endpoints.push_back(results.begin()->endpoint());
            c->endpoint_names.push_back(e.address.host + ":" + std::to_string(e.address.port));
            c->weights.push_back(e.weight);
            c->identity += "|" + c->endpoints.back().address().to_string() + ":" + std::to_string(e.address.port) + "*" + std::to_string(e.weight);
        }
        if (c->lb.policy == config::lb_policy::ring_hash) c->ring = upstream::hash_ring(c->weights);
        if (u.tls) {
            std::string path = "upstreams[" + std::to_string(i) + "].tls";
            std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
            SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
            upstream::tls_session_slot::enable(ctx.get());
            if (u.tls->verify) {
                SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
                bool ok = u.tls->ca.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                                            : SSL_CTX_load_verify_locations(ctx.get(), u.tls->ca.c_str(), nullptr) == 1;
                if (!ok) diags.error(u.mark, path + ".ca", "cannot load CA bundle '" + u.tls->ca + "'");
            }
            if (!u.tls->client_cert.empty()) {
                if (SSL_CTX_use_certificate_chain_file(ctx.get(), u.tls->client_cert.c_str()) != 1 ||
                    SSL_CTX_use_PrivateKey_file(ctx.get(), u.tls->client_key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1)
                    diags.error(u.mark, path + ".client_cert", "cannot load the client certificate and key ('" + u.tls->client_cert + "', '" + u.tls->client_key + "')");
            }
            for (auto* f : {&u.tls->ca, &u.tls->client_cert, &u.tls->client_key})
                if (!f->empty()) snap->watched_files.push_back(*f);
            c->tls_ctx = std::move(ctx);
            c->tls_sni = u.tls->sni;
            c->tls_verify = u.tls->verify;
            // a reload gets new pools when anything about TLS changed (files included: they are watched)
            c->identity += "|tls:" + u.tls->sni + "|" + u.tls->ca + "|" + std::to_string(u.tls->verify) + "|" + u.tls->client_cert + "|" +
                           std::to_string(generation);
        }
        snap->clusters.push_back(std::move(c));
    }
    snap->routes = std::make_unique<router::route_table>(cfg.routes);
    for (auto& r : snap->routes->routes()) {
        if (r.config.upstream.empty()) continue;
        for (std::size_t i = 0; i < snap->clusters.size(); ++i)
            if (snap->clusters[i]->name == r.config.upstream) r.upstream_index = i;
    }
    auto build_chain = [&](const config::middleware_list& specs) {
        snapshot::chain c;
        middleware::build_services mw = services.middleware;
        for (auto& spec : specs) {
            for (auto& f : spec->watched_files) snap->watched_files.push_back(f);
            if (auto m = spec->build(mw, diags)) c.push_back(std::move(m));
        }
        return c;
    };
    for (auto& r : snap->routes->routes()) snap->route_chains.push_back(build_chain(r.config.middleware));
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const auto& l = cfg.listeners[i];
        if (!l.tls) continue;
        auto ctx = tls::server_context::build(*l.tls, "listeners[" + std::to_string(i) + "].tls", diags);
        if (!ctx) continue;
        for (auto& f : ctx->watched_files()) snap->watched_files.push_back(f);
        snap->tls[l.name] = std::move(ctx);
    }
    for (auto& l : cfg.listeners)
        if (!l.middleware.empty()) snap->listener_chains[l.name] = build_chain(l.middleware);
    if (services.metrics) {
        for (auto& r : snap->routes->routes()) snap->route_stats.push_back(services.metrics->route(r.config.name));
        snap->unmatched_stats = services.metrics->route(observability::k_unmatched_route);
        for (auto& c : snap->clusters) snap->cluster_stats.push_back(services.metrics->upstream(c->name));
    }
    if (services.access_log && cfg.access_log.enabled) {
        try {
            snap->access_log = services.access_log(cfg.access_log);
        } catch (const std::exception& e) {
            diags.error({}, "access_log.path", std::string("cannot open the access log: ") + e.what());
        }
    }
    snap->config = std::move(cfg);
    if (diags.has_errors()) return nullptr;
    return snap;
}

}  // namespace gatehouse::server
