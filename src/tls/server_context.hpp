#pragma once
// TLS for a listener: one OpenSSL SSL_CTX per certificate, the one for a connection chosen by
// SNI from the names in each certificate (exact, then wildcard), the first as the default.
// Built on the control thread at snapshot build time and shared, immutable, by every worker.
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/config.hpp"

namespace gatehouse::tls {

struct ssl_ctx_deleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;

class server_context {
public:
    // Loads every certificate and key; problems (unreadable file, key that does not match its
    // certificate, bad cipher list) become errors at the listener's line, an expired
    // certificate a warning. nullptr on error.
    static std::shared_ptr<const server_context> build(const config::listener_tls_config& cfg, const std::string& path,
                                                       config::diagnostics& d);

    SSL_CTX* default_ctx() const { return contexts_.front().get(); }
    const config::listener_tls_config& config() const { return cfg_; }
    // The SSL_CTX for a server name (SNI), or null for "use the default".
    SSL_CTX* for_name(std::string_view name) const;
    std::vector<std::string> watched_files() const;

    // What the admin API shows of each loaded certificate (the leaf), in config order.
    struct certificate_info {
        std::string file;
        std::vector<std::string> names;  // DNS names, or the CN when there are none
        std::chrono::system_clock::time_point not_before, not_after;
    };
    std::vector<certificate_info> certificates() const;

private:
    config::listener_tls_config cfg_;
    std::vector<ssl_ctx_ptr> contexts_;
    std::vector<std::pair<std::string, SSL_CTX*>> exact_;     // lower-case name
    std::vector<std::pair<std::string, SSL_CTX*>> wildcard_;  // ".example.com" for *.example.com
};

// "TLSv1.3" etc. for the access log; the verified client identity for forwarding.
struct peer_identity {
    std::string subject, sans, fingerprint;
    bool verified = false;
};
peer_identity client_identity(SSL* ssl);

}  // namespace gatehouse::tls
