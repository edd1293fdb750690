#pragma once
// TLS session resumption to upstreams (nginx's proxy_ssl_session_reuse, on by default there too):
// each endpoint keeps, per worker, the last session its TLS connections received, and offers it
// on the next new connection, which then skips the certificate exchange and the signature.
#include <openssl/ssl.h>

namespace gatehouse::upstream {

class tls_session_slot {
public:
    tls_session_slot() = default;
    tls_session_slot(tls_session_slot&& o) noexcept : session_(o.session_) { o.session_ = nullptr; }
    tls_session_slot& operator=(tls_session_slot&&) = delete;
    ~tls_session_slot();

    // On a client context (snapshot build): sessions and TLS 1.3 tickets go to the slot of the
    // connection that received them, not to OpenSSL's cache.
    static void enable(SSL_CTX* ctx);
    // On a new connection's SSL, before its handshake: offers the kept session, and makes this
    // slot the one that keeps the connection's next session. The slot must outlive `ssl`.
    void attach(SSL* ssl);

private:
    static int on_new_session(SSL* ssl, SSL_SESSION* session);
    SSL_SESSION* session_ = nullptr;
};

}  // namespace gatehouse::upstream
