// Session tickets under the shared, rotating keys (src/tls/ticket_keys.cpp): real OpenSSL
// handshakes between two SSL objects joined by a BIO pair in memory.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "tls/ticket_keys.hpp"

using namespace gatehouse::tls;

namespace {

struct ctx_deleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;
struct session_deleter {
    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using session_ptr = std::unique_ptr<SSL_SESSION, session_deleter>;

// A server context with a fresh self-signed P-256 certificate and the shared ticket keys.
ctx_ptr server_ctx(int version) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ticket.test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate(ctx.get(), cert);
    SSL_CTX_use_PrivateKey(ctx.get(), key);
    SSL_CTX_set_min_proto_version(ctx.get(), version);
    SSL_CTX_set_max_proto_version(ctx.get(), version);
    SSL_CTX_set_num_tickets(ctx.get(), 1);
    use_shared_ticket_keys(ctx.get());
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

struct result {
    bool ok = false;
    bool resumed = false;
    session_ptr session;  // the client's session after the connection (with the latest ticket)
};

// One connection: handshake, one byte of data each way (TLS 1.3 tickets come after the
// handshake), the client's session kept.
result connect(SSL_CTX* server, SSL_CTX* client, SSL_SESSION* offer) {
    SSL* s = SSL_new(server);
    SSL* c = SSL_new(client);
    BIO *sb = nullptr, *cb = nullptr;
    BIO_new_bio_pair(&sb, 0, &cb, 0);
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    if (offer) SSL_set_session(c, offer);
    result r;
    bool sdone = false, cdone = false;
    for (int i = 0; i < 20 && !(sdone && cdone); ++i) {
        if (!cdone) cdone = SSL_do_handshake(c) == 1;
        if (!sdone) sdone = SSL_do_handshake(s) == 1;
    }
    if (sdone && cdone) {
        char byte = 'x';
        std::size_t n = 0;
        SSL_write_ex(s, &byte, 1, &n);
        r.ok = SSL_read_ex(c, &byte, 1, &n) == 1;
        r.resumed = SSL_session_reused(c) == 1;
        r.session.reset(SSL_get1_session(c));
    }
    SSL_shutdown(c);  // freed without a shutdown, OpenSSL marks the session not resumable
    SSL_shutdown(s);
    SSL_free(c);
    SSL_free(s);
    return r;
}

std::string ticket_of(SSL_SESSION* s) {
    const unsigned char* t = nullptr;
    std::size_t len = 0;
    SSL_SESSION_get0_ticket(s, &t, &len);
    return {reinterpret_cast<const char*>(t), len};
}

ctx_ptr client_ctx(int version) {
    ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx.get(), version);
    SSL_CTX_set_max_proto_version(ctx.get(), version);
    return ctx;
}

}  // namespace

TEST(TicketKeys, Tls13ResumptionIssuesAFreshTicketEveryTime) {
    auto server = server_ctx(TLS1_3_VERSION);
    auto client = client_ctx(TLS1_3_VERSION);
    auto first = connect(server.get(), client.get(), nullptr);
    ASSERT_TRUE(first.ok);
    EXPECT_FALSE(first.resumed);
    SSL_SESSION* offer = first.session.get();
    result prev = std::move(first);
    for (int i = 0; i < 3; ++i) {
        auto next = connect(server.get(), client.get(), offer);
        ASSERT_TRUE(next.ok);
        EXPECT_TRUE(next.resumed) << i;
        EXPECT_NE(ticket_of(next.session.get()), ticket_of(offer)) << "no new ticket on resumption " << i;
        prev = std::move(next);
        offer = prev.session.get();
    }
}

TEST(TicketKeys, OlderKeysStillResumeUntilRotatedOut) {
    auto server = server_ctx(TLS1_3_VERSION);
    auto client = client_ctx(TLS1_3_VERSION);
    auto first = connect(server.get(), client.get(), nullptr);
    ASSERT_TRUE(first.ok);
    rotate_ticket_keys();  // the ticket's key is now the second newest: still accepted
    auto again = connect(server.get(), client.get(), first.session.get());
    ASSERT_TRUE(again.ok);
    EXPECT_TRUE(again.resumed);
    for (int i = 0; i < 3; ++i) rotate_ticket_keys();  // three newer keys: first's key is gone
    auto gone = connect(server.get(), client.get(), first.session.get());
    ASSERT_TRUE(gone.ok);  // a full handshake, not an error
    EXPECT_FALSE(gone.resumed);
    auto latest = connect(server.get(), client.get(), gone.session.get());
    EXPECT_TRUE(latest.resumed);  // and the ticket it got is under the newest key
}

TEST(TicketKeys, Tls12TicketIsReplacedOnlyAfterRotation) {
    auto server = server_ctx(TLS1_2_VERSION);
    auto client = client_ctx(TLS1_2_VERSION);
    auto first = connect(server.get(), client.get(), nullptr);
    ASSERT_TRUE(first.ok);
    auto same = connect(server.get(), client.get(), first.session.get());
    ASSERT_TRUE(same.resumed);
    EXPECT_EQ(ticket_of(same.session.get()), ticket_of(first.session.get()));  // newest key: kept
    rotate_ticket_keys();
    auto renewed = connect(server.get(), client.get(), first.session.get());
    ASSERT_TRUE(renewed.resumed);
    EXPECT_NE(ticket_of(renewed.session.get()), ticket_of(first.session.get()));  // re-issued under the new key
}
