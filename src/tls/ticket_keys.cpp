#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>

namespace gatehouse::tls {

namespace {

struct ticket_key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
};

constexpr std::size_t k_kept = 3;

struct store {
    std::mutex mu;  // held by rotation and by a worker refreshing its copy, never per handshake
    std::deque<ticket_key> keys;
    std::atomic<std::uint64_t> generation{1};
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

// Each worker thread's copy of the keys, refreshed when a rotation bumped the generation: a
// handshake reads one atomic and takes no lock shared with other workers.
struct local_keys {
    std::uint64_t generation = 0;
    std::array<ticket_key, k_kept> keys{};
    std::size_t count = 0;
};

const local_keys& current_keys() {
    thread_local local_keys local;
    auto& s = keys();
    if (auto g = s.generation.load(std::memory_order_acquire); g != local.generation) {
        std::lock_guard lock(s.mu);
        local.count = s.keys.size();
        std::copy(s.keys.begin(), s.keys.end(), local.keys.begin());
        local.generation = s.generation.load(std::memory_order_relaxed);
    }
    return local;
}

const EVP_CIPHER* ticket_cipher() {
    static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);  // fetched once, not per handshake
    return c;
}

int ticket_callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
    const auto& local = current_keys();
    const ticket_key* k = nullptr;
    bool newest = true;
    if (enc) {
        k = &local.keys[0];
        std::memcpy(key_name, k->name.data(), 16);
        if (RAND_bytes(iv, 16) != 1) return -1;
    } else {
        for (std::size_t i = 0; i < local.count; ++i) {
            if (std::memcmp(key_name, local.keys[i].name.data(), 16) == 0) {
                k = &local.keys[i];
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
    int ok = enc ? EVP_EncryptInit_ex(cctx, ticket_cipher(), nullptr, k->aes.data(), iv)
                 : EVP_DecryptInit_ex(cctx, ticket_cipher(), nullptr, k->aes.data(), iv);
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
    std::lock_guard lock(s.mu);
    s.add();
    s.generation.fetch_add(1, std::memory_order_release);
}

}  // namespace gatehouse::tls
