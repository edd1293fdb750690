#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>
#include <deque>
#include <mutex>
#include <shared_mutex>

namespace gatehouse::tls {

namespace {

struct ticket_key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
};

constexpr std::size_t k_kept = 3;

struct store {
    std::shared_mutex mu;  // readers: handshakes (per connection, not per request); writer: rotation
    std::deque<ticket_key> keys;
    store() { add(); }
    void add() {
        ticket_key k;
        RAND_bytes(k.name.data(), static_cast<int>(k.name.size()));
        RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size()));
        RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size()));
        keys.push_front(k);
        while (keys.size() > k_kept) keys.pop_back();
    }
};

store& keys() {
    static store s;
    return s;
}

int ticket_callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
    auto& s = keys();
    std::shared_lock lock(s.mu);
    const ticket_key* k = nullptr;
    bool newest = true;
    if (enc) {
        k = &s.keys.front();
        std::memcpy(key_name, k->name.data(), 16);
        if (RAND_bytes(iv, 16) != 1) return -1;
    } else {
        for (auto& c : s.keys) {
            if (std::memcmp(key_name, c.name.data(), 16) == 0) {
                k = &c;
                break;
            }
            newest = false;
        }
        if (!k) return 0;  // an unknown (rotated out) key: a full handshake, no error
    }
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k->hmac.data()), k->hmac.size());
    params[1] = OSSL_PARAM_construct_end();
    OSSL_PARAM digest[2];
    digest[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
    digest[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, digest) != 1 || EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
    int ok = enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k->aes.data(), iv) : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k->aes.data(), iv);
    if (ok != 1) return -1;
    if (enc) return 1;
    // 2: valid, and issue a new ticket. TLS 1.3 clients use a ticket once (RFC 8446 §C.4), so a
    // resumption that issued none would make the client's next connection a full handshake.
    // TLS 1.2 clients reuse theirs: renew only tickets under an older key.
    return newest && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
}

}  // namespace

void use_shared_ticket_keys(SSL_CTX* ctx) {
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback);
    SSL_CTX_set_timeout(ctx, 2 * 3600);  // tickets outlive no more than the kept keys (3 x 1 h rotation)
}

void rotate_ticket_keys() {
    auto& s = keys();
    std::unique_lock lock(s.mu);
    s.add();
}

}  // namespace gatehouse::tls
