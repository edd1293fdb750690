#pragma once
// JOSE primitives on OpenSSL 3 EVP: JWK and PEM public keys, and JWS signature
// verification for HS/RS/PS/ES 256/384/512 and EdDSA (Ed25519). No signing: gatehouse only
// verifies. The algorithm always comes from the configuration and must match the key's type;
// the token's own claims about keys (jwk, jku, x5u) are never used.
#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/base64.hpp"

namespace gatehouse::middleware::jwt {

enum class alg { HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA };
std::optional<alg> alg_from_name(std::string_view name);  // exact, case-sensitive; "none" is never one
const char* alg_name(alg a);

using util::base64url_decode;  // strict: no padding, no other characters (util/base64.hpp)

struct pkey_deleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::shared_ptr<EVP_PKEY>;

struct verify_key {
    std::string kid;             // may be empty
    std::string kty;             // RSA, EC, OKP, oct
    std::string crv;             // for EC / OKP
    std::optional<alg> key_alg;  // the JWK's "alg", when it says
    pkey_ptr pkey;               // RSA, EC, OKP
    std::string secret;          // oct (HMAC)
    bool usable_for(alg a) const;
};

// Parses one JWK (public parts only; private members are ignored). Error text on failure.
std::optional<verify_key> key_from_jwk(const nlohmann::json& jwk, std::string& error);
// Parses a JWKS document {"keys": [...]}; keys that fail are reported in `errors` and skipped.
std::vector<verify_key> keys_from_jwks(std::string_view text, std::vector<std::string>& errors);
// A PEM public key (SubjectPublicKeyInfo) or certificate.
std::optional<verify_key> key_from_pem(std::string_view pem, std::string& error);

// Verifies `signature` over `signing_input` with `key` under `a` (the caller checked usable_for).
bool verify_signature(alg a, const verify_key& key, std::string_view signing_input, std::string_view signature);

}  // namespace gatehouse::middleware::jwt
