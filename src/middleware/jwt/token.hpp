#pragma once
// The JWT front end with no I/O: the compact serialisation split and decoded (RFC 7515 §7.1),
// the JOSE header checked, and the claims checked against a route's rules (RFC 7519 §4.1).
// The middleware (jwt.cpp) puts the signature check between the two; the fuzz target
// (tests/fuzz/fuzz_jwt.cpp) drives both halves directly.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "middleware/jwt/jose.hpp"

namespace gatehouse::middleware::jwt {

// Why a token was refused. The enumerators map 1:1 onto provider::result_name (none = ok).
enum class failure {
    none,
    missing,
    multiple,
    malformed,
    alg,
    crit,
    unknown_kid,
    signature,
    expired,
    not_yet_valid,
    lifetime,
    issuer,
    audience,
    claim,
    header_value
};
const char* describe(failure f);

struct token_parts {
    std::string_view signing_input;  // header64 "." payload64, into the token
    std::string payload_text;        // decoded, not yet parsed
    std::string signature;           // decoded
    alg algorithm = alg::HS256;
    std::string kid;  // empty when the header has none
};

// Splits and decodes a compact JWS; checks the header (a JSON object without duplicate members,
// a string "alg" in `allowed` (empty = any), no "crit", a string "kid" if any).
failure split_token(std::string_view token, const std::vector<alg>& allowed, token_parts& out);

// What a verified token allows; the middleware caches it until the token expires.
struct verdict_entry {
    std::int64_t exp = 0;  // 0: no exp
    std::int64_t nbf = 0;
    bool forbidden = false;  // a required scope is missing
    std::string subject;
    std::vector<std::pair<std::string, std::string>> headers;  // claims_to_headers, values safe for a header
    std::vector<std::pair<std::string, std::string>> claims;   // top-level scalar claims, as text
};

struct claim_rules {
    std::string issuer;
    std::vector<std::string> audiences;
    bool require_expiration = true;
    std::int64_t clock_skew = 60;              // seconds
    std::optional<std::int64_t> max_lifetime;  // seconds
    std::vector<std::string> scopes;
    std::vector<std::pair<std::string, std::string>> claims;             // required claim = value
    std::vector<std::pair<std::string, std::string>> claims_to_headers;  // claim -> header
};

// Checks the payload's claims at `now` (seconds since the epoch) and fills `out`.
failure check_claims(std::string_view payload_text, const claim_rules& rules, std::int64_t now, verdict_entry& out);

}  // namespace gatehouse::middleware::jwt
