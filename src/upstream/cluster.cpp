#include "upstream/cluster.hpp"

#include "upstream/tls_session.hpp"
#include "util/digest.hpp"
#include "util/read_file.hpp"

namespace gatehouse::upstream {

namespace {
std::string content_digest(const std::string& path) { return util::sha256_hex(util::read_file(path).value_or("")); }
}  // namespace

std::shared_ptr<const cluster> build_cluster(const config::upstream_config& u, const std::string& path, config::diagnostics& diags,
                                             std::vector<std::string>& watched) {
    auto c = std::make_shared<cluster>();
    c->name = u.name;
    c->lb = u.load_balancer;
    c->pool = u.pool;
    c->identity = u.name + "|" + std::to_string(static_cast<int>(u.load_balancer.policy)) + "|" + u.load_balancer.hash_header + "|" +
                  std::to_string(u.pool.max_connections) + "|" + std::to_string(u.pool.max_pending) + "|" +
                  std::to_string(u.pool.idle_timeout.count()) + "|" + std::to_string(u.pool.connect_timeout.count()) + "|" +
                  health_identity(u);
    c->protocol = u.protocol;
    c->protocol_fallback = u.protocol_fallback;
    c->http2 = u.http2;
    if (c->multiplexed())
        c->identity += "|h2:" + std::to_string(static_cast<int>(u.protocol)) + "|" + std::to_string(u.protocol_fallback) + "|" +
                       std::to_string(u.http2.max_concurrent_streams) + "|" + std::to_string(u.http2.initial_stream_window) + "|" +
                       std::to_string(u.http2.connection_window) + "|" + std::to_string(u.http2.ping_interval.count()) + "|" +
                       std::to_string(u.http2.ping_timeout.count());
    c->health = health_for(u);
    if (!u.tls) return c;
    std::string tpath = path + ".tls";
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    tls_session_slot::enable(ctx.get());
    if (u.protocol == config::upstream_protocol::h2) {
        // ALPN: h2, and http/1.1 after it when the upstream may fall back to it.
        static constexpr unsigned char h2_only[] = {2, 'h', '2'};
        static constexpr unsigned char h2_or_http1[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        if (u.protocol_fallback) SSL_CTX_set_alpn_protos(ctx.get(), h2_or_http1, sizeof h2_or_http1);
        else SSL_CTX_set_alpn_protos(ctx.get(), h2_only, sizeof h2_only);
    }
    if (u.tls->verify) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        bool ok = u.tls->ca.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                                    : SSL_CTX_load_verify_locations(ctx.get(), u.tls->ca.c_str(), nullptr) == 1;
        if (!ok) diags.error(u.mark, tpath + ".ca", "cannot load CA bundle '" + u.tls->ca + "'");
    }
    if (!u.tls->client_cert.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), u.tls->client_cert.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx.get(), u.tls->client_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx.get()) != 1)
            diags.error(u.mark, tpath + ".client_cert",
                        "cannot load the client certificate and key ('" + u.tls->client_cert + "', '" + u.tls->client_key + "')");
    }
    c->identity += "|tls:" + u.tls->sni + "|" + std::to_string(u.tls->verify);
    for (auto* f : {&u.tls->ca, &u.tls->client_cert, &u.tls->client_key}) {
        if (f->empty()) continue;
        watched.push_back(*f);
        c->identity += "|" + *f + "#" + content_digest(*f);  // same files, same content: same pools
    }
    c->tls_ctx = std::move(ctx);
    c->tls_sni = u.tls->sni;
    c->tls_verify = u.tls->verify;
    return c;
}

}  // namespace gatehouse::upstream
