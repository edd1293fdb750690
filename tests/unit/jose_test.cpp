#include <gtest/gtest.h>

#include "middleware/jwt/jose.hpp"

using namespace gatehouse::middleware::jwt;

TEST(Jose, Base64UrlIsStrict) {
    EXPECT_EQ(base64url_decode("aGVsbG8"), "hello");
    EXPECT_EQ(base64url_decode(""), "");
    EXPECT_FALSE(base64url_decode("aGVsbG8="));  // no padding in JOSE
    EXPECT_FALSE(base64url_decode("aGVs+G8"));   // '+' is base64, not base64url
    EXPECT_FALSE(base64url_decode("a"));         // impossible length
    EXPECT_FALSE(base64url_decode("aGVsbG9"));   // non-zero trailing bits: a second encoding of the same bytes
}

TEST(Jose, AlgorithmNames) {
    EXPECT_EQ(alg_from_name("RS256"), alg::RS256);
    EXPECT_EQ(alg_from_name("EdDSA"), alg::EdDSA);
    EXPECT_FALSE(alg_from_name("none"));
    EXPECT_FALSE(alg_from_name("NONE"));
    EXPECT_FALSE(alg_from_name("rs256"));
}

TEST(Jose, JwkErrorsAreExplained) {
    std::string err;
    EXPECT_FALSE(key_from_jwk(nlohmann::json{{"kty", "RSA"}, {"n", "AQAB"}, {"e", "AQAB"}}, err));
    EXPECT_EQ(err, "RSA keys must have at least 2048 bits");
    EXPECT_FALSE(key_from_jwk(nlohmann::json{{"kty", "EC"}, {"crv", "P-192"}, {"x", "AA"}, {"y", "AA"}}, err));
    EXPECT_EQ(err, "unsupported EC curve 'P-192'");
    EXPECT_FALSE(key_from_jwk(nlohmann::json{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"use", "enc"}}, err));
    EXPECT_EQ(err, "key use 'enc' is not sig");
    EXPECT_FALSE(key_from_jwk(nlohmann::json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}}, err));
    EXPECT_EQ(err, "Ed25519 keys are 32 bytes");
}

TEST(Jose, KeyTypeMustMatchTheAlgorithm) {
    std::string err;
    auto oct = key_from_jwk(nlohmann::json{{"kty", "oct"}, {"k", "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}}, err);
    ASSERT_TRUE(oct) << err;
    EXPECT_TRUE(oct->usable_for(alg::HS256));
    EXPECT_FALSE(oct->usable_for(alg::RS256));
    auto pinned = key_from_jwk(nlohmann::json{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"alg", "HS512"}}, err);
    ASSERT_TRUE(pinned);
    EXPECT_FALSE(pinned->usable_for(alg::HS256));  // the JWK's own alg wins
    EXPECT_TRUE(pinned->usable_for(alg::HS512));
}

TEST(Jose, HmacVerification) {
    std::string err;
    // RFC 7515 appendix A.1 (HS256)
    auto key = key_from_jwk(nlohmann::json{{"kty", "oct"},
                                           {"k", "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}},
                            err);
    ASSERT_TRUE(key) << err;
    std::string input =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    auto sig = base64url_decode("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    ASSERT_TRUE(sig);
    EXPECT_TRUE(verify_signature(alg::HS256, *key, input, *sig));
    EXPECT_FALSE(verify_signature(alg::HS256, *key, input + "x", *sig));
}
