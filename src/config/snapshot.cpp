#include "config/snapshot.hpp"

#include "compose/compose_config.hpp"
#include "http/compose_metrics.hpp"
#include "http/mirror.hpp"

#include "observability/access_log.hpp"
#include "tls/server_context.hpp"
#include "upstream/cluster.hpp"
#include "upstream/retry.hpp"
#include "observability/metrics.hpp"
#include "transcode/transcode_config.hpp"

namespace gatehouse::config {

std::shared_ptr<const snapshot> build_snapshot(config::gateway_config cfg, std::uint64_t generation, config::diagnostics& diags,
                                               const snapshot_services& services) {
    auto snap = std::make_shared<snapshot>();
    snap->generation = generation;
    snap->scan_limits.max_headers = cfg.limits.max_headers;
    snap->scan_limits.max_request_line = cfg.limits.max_request_line;

    for (std::size_t i = 0; i < cfg.upstreams.size(); ++i)
        snap->clusters.push_back(
            upstream::build_cluster(cfg.upstreams[i], "upstreams[" + std::to_string(i) + "]", diags, snap->watched_files));
    snap->routes = std::make_unique<router::route_table>(cfg.routes);
    for (auto& r : snap->routes->routes()) {
        if (r.config.compose)
            for (const auto& c : r.config.compose->calls)
                for (std::size_t i = 0; i < snap->clusters.size(); ++i)
                    if (snap->clusters[i]->name == c.upstream) r.compose_upstreams.push_back(i);
        if (r.config.upstream.empty()) continue;
        for (std::size_t i = 0; i < snap->clusters.size(); ++i)
            if (snap->clusters[i]->name == r.config.upstream) r.upstream_index = i;
        if (r.config.mirror)
            for (std::size_t i = 0; i < snap->clusters.size(); ++i)
                if (snap->clusters[i]->name == r.config.mirror->upstream) r.mirror_index = i;
        if (r.config.fallback && !r.config.fallback->upstream.empty())
            for (std::size_t i = 0; i < snap->clusters.size(); ++i)
                if (snap->clusters[i]->name == r.config.fallback->upstream) r.fallback_index = i;
        std::uint64_t cumulative = 0;
        for (auto& t : r.config.split) {
            if (t.weight == 0) continue;
            cumulative += t.weight;
            for (std::size_t i = 0; i < snap->clusters.size(); ++i)
                if (snap->clusters[i]->name == t.upstream) r.split.emplace_back(i, cumulative);
        }
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
    // A grpc_transcode descriptor set is watched like a certificate: a change reloads the config,
    // which loads the set again (a set that no longer loads fails the reload: the old rules serve).
    for (auto& r : snap->routes->routes())
        if (r.config.grpc_transcode) snap->watched_files.push_back(r.config.grpc_transcode->descriptor_set);
    for (auto& r : snap->routes->routes())
        snap->mirror_counts.push_back(r.config.mirror ? http::mirror_counts_for(r.config.name) : nullptr);
    for (auto& r : snap->routes->routes()) {
        std::vector<std::string> calls;
        if (r.config.compose)
            for (auto& c : r.config.compose->calls) calls.push_back(c.name);
        snap->compose_counts.push_back(r.config.compose ? http::compose_counts_for(r.config.name, calls) : nullptr);
    }
    for (auto& r : snap->routes->routes())
        snap->retry_counts.push_back(r.config.retry ? upstream::retry_counts_for(r.config.name) : nullptr);
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const auto& l = cfg.listeners[i];
        if (!l.tls) continue;
        auto ctx = tls::server_context::build(*l.tls, "listeners[" + std::to_string(i) + "].tls", diags);
        if (!ctx) continue;
        for (auto& f : ctx->watched_files()) snap->watched_files.push_back(f);
        snap->tls[l.name] = std::move(ctx);
    }
    // The admin token file is watched like a certificate: a change reloads, and the new token
    // counts once the reload is in (the loader has read and checked it).
    if (cfg.admin.auth) snap->watched_files.push_back(cfg.admin.auth->token_file);
    if (cfg.admin.tls) {
        if (auto ctx = tls::server_context::build(*cfg.admin.tls, "admin.tls", diags)) {
            for (auto& f : ctx->watched_files()) snap->watched_files.push_back(f);
            snap->admin_tls = std::move(ctx);
        }
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
    if (services.tracer && cfg.tracing.otlp) snap->tracer = services.tracer(*cfg.tracing.otlp);
    snap->config = std::move(cfg);
    if (diags.has_errors()) return nullptr;
    return snap;
}

}  // namespace gatehouse::config
