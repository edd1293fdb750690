#include "middleware/jwt/jose.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>

namespace gatehouse::middleware::jwt {

namespace {
constexpr std::array<const char*, 13> k_names{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
                                              "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};

const EVP_MD* digest_of(alg a) {
    switch (a) {
        case alg::HS256:
        case alg::RS256:
        case alg::PS256:
        case alg::ES256: return EVP_sha256();
        case alg::HS384:
        case alg::RS384:
        case alg::PS384:
        case alg::ES384: return EVP_sha384();
        case alg::HS512:
        case alg::RS512:
        case alg::PS512:
        case alg::ES512: return EVP_sha512();
        case alg::EdDSA: return nullptr;
    }
    return nullptr;
}

struct bn_deleter {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_deleter>;

pkey_ptr from_params(const char* type, OSSL_PARAM_BLD* bld) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    EVP_PKEY* pkey = nullptr;
    bool ok = ctx && params && EVP_PKEY_fromdata_init(ctx) > 0 && EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) > 0;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return nullptr;
    }
    return pkey_ptr(pkey, pkey_deleter{});
}

std::string field(const nlohmann::json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
}

// DER for ECDSA from JOSE's raw R || S.
std::optional<std::string> ecdsa_der(std::string_view raw, std::size_t half) {
    if (raw.size() != half * 2) return std::nullopt;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + half), static_cast<int>(half), nullptr);
    if (!sig || !r || !s || BN_is_zero(r) || BN_is_zero(s) || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    if (len <= 0) return std::nullopt;
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}
}  // namespace

std::optional<alg> alg_from_name(std::string_view name) {
    for (std::size_t i = 0; i < k_names.size(); ++i)
        if (name == k_names[i]) return static_cast<alg>(i);
    return std::nullopt;
}

const char* alg_name(alg a) { return k_names[static_cast<std::size_t>(a)]; }

bool verify_key::usable_for(alg a) const {
    if (key_alg && *key_alg != a) return false;
    switch (a) {
        case alg::HS256:
        case alg::HS384:
        case alg::HS512: return kty == "oct" && !secret.empty();
        case alg::RS256:
        case alg::RS384:
        case alg::RS512:
        case alg::PS256:
        case alg::PS384:
        case alg::PS512: return kty == "RSA" && pkey;
        case alg::ES256: return kty == "EC" && crv == "P-256" && pkey;
        case alg::ES384: return kty == "EC" && crv == "P-384" && pkey;
        case alg::ES512: return kty == "EC" && crv == "P-521" && pkey;
        case alg::EdDSA: return kty == "OKP" && crv == "Ed25519" && pkey;
    }
    return false;
}

std::optional<verify_key> key_from_jwk(const nlohmann::json& j, std::string& error) {
    if (!j.is_object()) {
        error = "a JWK must be a JSON object";
        return std::nullopt;
    }
    verify_key k;
    k.kid = field(j, "kid");
    k.kty = field(j, "kty");
    k.crv = field(j, "crv");
    if (auto a = field(j, "alg"); !a.empty()) {
        k.key_alg = alg_from_name(a);
        if (!k.key_alg) {
            error = "unsupported alg '" + a + "'";
            return std::nullopt;
        }
    }
    if (auto use = field(j, "use"); !use.empty() && use != "sig") {
        error = "key use '" + use + "' is not sig";
        return std::nullopt;
    }
    auto b64 = [&](const char* name) -> std::optional<std::string> {
        auto v = base64url_decode(field(j, name));
        if (!v || v->empty()) error = std::string("missing or invalid '") + name + "'";
        return v && !v->empty() ? v : std::nullopt;
    };
    if (k.kty == "oct") {
        auto s = b64("k");
        if (!s) return std::nullopt;
        k.secret = *s;
        return k;
    }
    if (k.kty == "RSA") {
        auto n = b64("n"), e = b64("e");
        if (!n || !e) return std::nullopt;
        if (n->size() < 256) {
            error = "RSA keys must have at least 2048 bits";
            return std::nullopt;
        }
        bn_ptr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
        bn_ptr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
        OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get());
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get());
        k.pkey = from_params("RSA", bld);
        OSSL_PARAM_BLD_free(bld);
        if (!k.pkey) error = "invalid RSA key";
        return k.pkey ? std::optional(k) : std::nullopt;
    }
    if (k.kty == "EC") {
        const char* group = k.crv == "P-256" ? "prime256v1" : k.crv == "P-384" ? "secp384r1" : k.crv == "P-521" ? "secp521r1" : nullptr;
        std::size_t size = k.crv == "P-256" ? 32 : k.crv == "P-384" ? 48 : 66;
        if (!group) {
            error = "unsupported EC curve '" + k.crv + "'";
            return std::nullopt;
        }
        auto x = b64("x"), y = b64("y");
        if (!x || !y) return std::nullopt;
        if (x->size() != size || y->size() != size) {
            error = "EC coordinates have the wrong length for " + k.crv;
            return std::nullopt;
        }
        std::string point = "\x04" + *x + *y;
        OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
        k.pkey = from_params("EC", bld);
        OSSL_PARAM_BLD_free(bld);
        if (!k.pkey) error = "invalid EC key (not on the curve?)";
        return k.pkey ? std::optional(k) : std::nullopt;
    }
    if (k.kty == "OKP") {
        if (k.crv != "Ed25519") {
            error = "unsupported OKP curve '" + k.crv + "'";
            return std::nullopt;
        }
        auto x = b64("x");
        if (!x) return std::nullopt;
        if (x->size() != 32) {
            error = "Ed25519 keys are 32 bytes";
            return std::nullopt;
        }
        EVP_PKEY* p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
        if (!p) {
            error = "invalid Ed25519 key";
            return std::nullopt;
        }
        k.pkey = pkey_ptr(p, pkey_deleter{});
        return k;
    }
    error = "unsupported kty '" + k.kty + "'";
    return std::nullopt;
}

std::vector<verify_key> keys_from_jwks(std::string_view text, std::vector<std::string>& errors) {
    std::vector<verify_key> out;
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
        errors.push_back("not a JWKS document ({\"keys\": [...]})");
        return out;
    }
    for (auto& j : doc["keys"]) {
        std::string err;
        if (auto k = key_from_jwk(j, err)) out.push_back(std::move(*k));
        else errors.push_back((j.is_object() && j.contains("kid") ? "key " + j["kid"].dump() + ": " : std::string()) + err);
    }
    return out;
}

std::optional<verify_key> key_from_pem(std::string_view pem, std::string& error) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* p = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    if (!p) {
        BIO_free(bio);
        bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        if (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
            p = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    BIO_free(bio);
    if (!p) {
        error = "not a PEM public key or certificate";
        return std::nullopt;
    }
    verify_key k;
    k.pkey = pkey_ptr(p, pkey_deleter{});
    switch (EVP_PKEY_get_base_id(p)) {
        case EVP_PKEY_RSA:
            k.kty = "RSA";
            if (EVP_PKEY_get_bits(p) < 2048) {
                error = "RSA keys must have at least 2048 bits";
                return std::nullopt;
            }
            break;
        case EVP_PKEY_ED25519:
            k.kty = "OKP";
            k.crv = "Ed25519";
            break;
        case EVP_PKEY_EC: {
            k.kty = "EC";
            char name[64] = {};
            std::size_t len = 0;
            EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len);
            std::string g(name);
            k.crv = g == "prime256v1" ? "P-256" : g == "secp384r1" ? "P-384" : g == "secp521r1" ? "P-521" : g;
            break;
        }
        default: error = "unsupported key type"; return std::nullopt;
    }
    return k;
}

bool verify_signature(alg a, const verify_key& key, std::string_view input, std::string_view sig) {
    switch (a) {
        case alg::HS256:
        case alg::HS384:
        case alg::HS512: {
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int len = 0;
            if (!HMAC(digest_of(a), key.secret.data(), static_cast<int>(key.secret.size()),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len))
                return false;
            return sig.size() == len && CRYPTO_memcmp(mac, sig.data(), len) == 0;
        }
        default: break;
    }
    std::string der;
    if (a == alg::ES256 || a == alg::ES384 || a == alg::ES512) {
        auto d = ecdsa_der(sig, a == alg::ES256 ? 32 : a == alg::ES384 ? 48 : 66);
        if (!d) return false;
        der = std::move(*d);
        sig = der;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = EVP_DigestVerifyInit(ctx, &pctx, digest_of(a), nullptr, key.pkey.get()) == 1;
    if (ok && (a == alg::PS256 || a == alg::PS384 || a == alg::PS512)) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest_of(a)) == 1;
    } else if (ok && (a == alg::RS256 || a == alg::RS384 || a == alg::RS512)) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

}  // namespace gatehouse::middleware::jwt
