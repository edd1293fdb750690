// The JWT front end without keys or I/O (src/middleware/jwt/token.cpp): splitting, the header,
// and every claim check, at fixed clocks.
#include <gtest/gtest.h>

#include "middleware/jwt/token.hpp"
#include "util/base64.hpp"

using namespace gatehouse::middleware::jwt;

namespace {

std::string b64u(std::string_view s) {
    auto out = gatehouse::util::base64_encode(s);
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

std::string token(std::string_view header, std::string_view payload) { return b64u(header) + "." + b64u(payload) + "." + b64u("sig"); }

constexpr std::int64_t now = 1'700'000'000;

failure claims(std::string_view payload, const claim_rules& r = {}, verdict_entry* out = nullptr) {
    verdict_entry e;
    return check_claims(payload, r, now, out ? *out : e);
}

}  // namespace

TEST(Token, SplitChecksShapeHeaderAndAlgorithm) {
    token_parts p;
    EXPECT_EQ(split_token(token(R"({"alg":"HS256","kid":"k1"})", "{}"), {}, p), failure::none);
    EXPECT_EQ(p.algorithm, alg::HS256);
    EXPECT_EQ(p.kid, "k1");
    EXPECT_EQ(p.signature, "sig");
    EXPECT_EQ(split_token("a.b", {}, p), failure::malformed);
    EXPECT_EQ(split_token("a.b.c.d", {}, p), failure::malformed);
    EXPECT_EQ(split_token(token(R"({"alg":"none"})", "{}"), {}, p), failure::alg);
    EXPECT_EQ(split_token(token(R"({"alg":"RS256"})", "{}"), {alg::ES256}, p), failure::alg);
    EXPECT_EQ(split_token(token(R"({"alg":"HS256","crit":["b64"]})", "{}"), {}, p), failure::crit);
    EXPECT_EQ(split_token(token(R"({"alg":"HS256","alg":"RS256"})", "{}"), {}, p), failure::malformed);  // duplicate member
    EXPECT_EQ(split_token(token(R"({"alg":"HS256","kid":7})", "{}"), {}, p), failure::malformed);
}

TEST(Token, TimesWithSkewAndMaxLifetime) {
    claim_rules r;
    r.clock_skew = 60;
    EXPECT_EQ(claims(R"({"exp":1700000030})", r), failure::none);
    EXPECT_EQ(claims(R"({"exp":1699999950})", r), failure::none);  // within the skew
    EXPECT_EQ(claims(R"({"exp":1699999900})", r), failure::expired);
    EXPECT_EQ(claims(R"({})", r), failure::expired);  // require_expiration
    EXPECT_EQ(claims(R"({"exp":1700000100,"nbf":1700000100})", r), failure::not_yet_valid);
    EXPECT_EQ(claims(R"({"exp":1700000100,"iat":1700000100})", r), failure::not_yet_valid);
    r.max_lifetime = 3600;
    EXPECT_EQ(claims(R"({"iat":1700000000,"exp":1700003600})", r), failure::none);
    EXPECT_EQ(claims(R"({"iat":1700000000,"exp":1700003601})", r), failure::lifetime);
    EXPECT_EQ(claims(R"({"nbf":1699990000,"exp":1700000100})", r), failure::lifetime);  // from nbf when no iat
    EXPECT_EQ(claims(R"({"exp":1700003700})", r), failure::lifetime);                   // from now when neither
    // Fractional dates are NumericDates too; absurd ones are malformed, never overflow (fuzzing).
    EXPECT_EQ(claims(R"({"iat":1700000000.5,"exp":1700000100.9})", r), failure::none);
    EXPECT_EQ(claims(R"({"exp":1e300})", r), failure::malformed);
    EXPECT_EQ(claims(R"({"exp":9223372036854775807})", r), failure::malformed);
    EXPECT_EQ(claims(R"({"exp":"1700000100"})", r), failure::malformed);
}

TEST(Token, IssuerAudienceClaimsScopesAndHeaders) {
    claim_rules r;
    r.require_expiration = false;
    r.issuer = "https://issuer";
    r.audiences = {"api"};
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":["x","api"]})", r), failure::none);
    EXPECT_EQ(claims(R"({"iss":"https://other","aud":"api"})", r), failure::issuer);
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"web"})", r), failure::audience);
    r.claims = {{"role", "admin"}};
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"api","role":["user","admin"]})", r), failure::none);
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"api","role":"user"})", r), failure::claim);
    r.claims.clear();
    r.scopes = {"read"};
    verdict_entry e;
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"api","scope":"write"})", r, &e), failure::none);
    EXPECT_TRUE(e.forbidden);
    verdict_entry ok;
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"api","scp":["read"],"sub":"u1","tenant":"t"})", r, &ok), failure::none);
    EXPECT_FALSE(ok.forbidden);
    EXPECT_EQ(ok.subject, "u1");
    r.claims_to_headers = {{"tenant", "x-tenant"}};
    verdict_entry h;
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"api","scope":"read","tenant":"t1"})", r, &h), failure::none);
    ASSERT_EQ(h.headers.size(), 1u);
    EXPECT_EQ(h.headers[0].second, "t1");
    EXPECT_EQ(claims(R"({"iss":"https://issuer","aud":"api","scope":"read","tenant":"a\r\nX-Admin: 1"})", r), failure::header_value);
}
