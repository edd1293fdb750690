#pragma once
// An upstream as a snapshot knows it: everything but its endpoints, which are runtime data
// (discovery publishes them separately). `identity` changes whenever anything that matters to
// its pools changes, so per-worker state keyed by it survives reloads that leave it alone.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "upstream/health.hpp"

namespace gatehouse::upstream {

struct cluster {
    std::string name;
    std::string identity;
    config::lb_config lb;
    config::pool_config pool;
    config::upstream_protocol protocol = config::upstream_protocol::http1;
    bool protocol_fallback = false;
    config::upstream_http2_config http2;
    // HTTP/2 (h2 or h2c): requests are streams multiplexed over the endpoint's connections.
    bool multiplexed() const { return protocol != config::upstream_protocol::http1; }
    // TLS to the endpoints (null: plain TCP). The client context is shared by every worker.
    std::shared_ptr<ssl_ctx_st> tls_ctx;
    std::string tls_sni;  // empty: each endpoint's configured host
    bool tls_verify = true;
    // Breaker, limits and endpoint health, shared by every worker (upstream/health.hpp).
    std::shared_ptr<upstream_health> health;
};

// Builds the definition (control thread, snapshot build). TLS files it reads go to `watched`;
// their content is part of the identity, so a changed certificate gets new pools and an
// unchanged one keeps them across reloads.
std::shared_ptr<const cluster> build_cluster(const config::upstream_config& u, const std::string& path, config::diagnostics& diags,
                                             std::vector<std::string>& watched);

}  // namespace gatehouse::upstream
