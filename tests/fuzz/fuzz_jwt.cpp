// The JOSE/JWT front end (src/middleware/jwt/token.cpp, jose.cpp): a compact token split,
// decoded and its header checked; the signature checked against a key of every kind (never
// accepted: the fuzzer holds no private key, except by finding the HMAC secret); the claims
// checked against rules that use every check. The first input byte sends the rest either as a
// token or straight to the claims check (so the fuzzer need not find base64url first).
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "middleware/jwt/token.hpp"
#include "http1/head.hpp"

using namespace gatehouse::middleware::jwt;
using gatehouse::http::valid_field_value;

namespace {

verify_key generated(const char* kty, const char* crv, EVP_PKEY* p) {
    verify_key k;
    k.kty = kty;
    k.crv = crv;
    k.pkey = pkey_ptr(p, pkey_deleter{});
    return k;
}

const std::vector<verify_key>& keys() {
    static const std::vector<verify_key> all = [] {
        std::vector<verify_key> v;
        verify_key hmac;
        hmac.kty = "oct";
        hmac.secret = "fuzz-secret";
        v.push_back(hmac);
        v.push_back(generated("RSA", "", EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))));
        v.push_back(generated("EC", "P-256", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")));
        v.push_back(generated("EC", "P-384", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384")));
        v.push_back(generated("EC", "P-521", EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521")));
        v.push_back(generated("OKP", "Ed25519", EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
        return v;
    }();
    return all;
}

claim_rules rules() {
    claim_rules r;
    r.issuer = "https://issuer.example";
    r.audiences = {"api", "web"};
    r.max_lifetime = 3600;
    r.scopes = {"read"};
    r.claims = {{"role", "admin"}, {"n", "5"}};
    r.claims_to_headers = {{"sub", "x-user"}, {"tenant", "x-tenant"}, {"groups", "x-groups"}};
    return r;
}

void claims(std::string_view payload, const claim_rules& r) {
    for (std::int64_t now : {std::int64_t{0}, std::int64_t{1'700'000'000}, std::int64_t{-1}}) {
        verdict_entry e;
        auto f = check_claims(payload, r, now, e);
        if (f != failure::none) continue;
        FUZZ_CHECK(valid_field_value(e.subject));
        for (auto& [h, v] : e.headers) FUZZ_CHECK(valid_field_value(v));
        // An exp is required: a token passed with one (exp 0 passes only at clocks within the skew of 1970).
        FUZZ_CHECK(e.exp != 0 || !r.require_expiration || now <= r.clock_skew);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const claim_rules r = rules();
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    if (in.byte() & 1) {
        claims(in.rest, r);
        return 0;
    }
    token_parts parts;
    if (split_token(in.rest, {}, parts) != failure::none) return 0;
    FUZZ_CHECK(parts.signing_input.size() < in.rest.size() && in.rest[parts.signing_input.size()] == '.');
    for (auto& k : keys()) {
        if (!k.usable_for(parts.algorithm)) continue;
        bool ok = verify_signature(parts.algorithm, k, parts.signing_input, parts.signature);
        FUZZ_CHECK(!ok || k.kty == "oct");
    }
    claims(parts.payload_text, r);
    return 0;
}
