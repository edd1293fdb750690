// The JWT front end (token.hpp): splitting and decoding a compact JWS, the JOSE header, claims.
#include "middleware/jwt/token.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::middleware::jwt {

namespace {

using json = nlohmann::json;

// NumericDate bound: 2^53 seconds (beyond any real date, and every sum and difference of two such
// values and a clock skew stays far inside int64).
constexpr double k_max_numeric_date = 9007199254740992.0;

// Parses a JSON object, refusing duplicate member names at the top level (RFC 7515 §5.2).
std::optional<json> parse_object(std::string_view text) {
    bool duplicate = false;
    std::vector<std::string> seen;
    auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (depth == 1 && ev == json::parse_event_t::key) {
            auto k = parsed.get<std::string>();
            if (std::find(seen.begin(), seen.end(), k) != seen.end()) duplicate = true;
            seen.push_back(std::move(k));
        }
        return true;
    };
    json j = json::parse(text.begin(), text.end(), cb, false);
    if (j.is_discarded() || !j.is_object() || duplicate) return std::nullopt;
    return j;
}

std::string claim_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (auto& e : v) {
            if (!out.empty()) out += ",";
            out += claim_text(e);
        }
        return out;
    }
    return v.dump();
}

// A NumericDate claim (RFC 7519 §2): a JSON number, possibly fractional; nullopt when absent,
// false in `ok` when it is not a number or out of range.
std::optional<std::int64_t> numeric_date(const json& p, const char* name, bool& ok) {
    auto it = p.find(name);
    if (it == p.end()) return std::nullopt;
    if (!it->is_number()) {
        ok = false;
        return std::nullopt;
    }
    double v = it->get<double>();
    if (!std::isfinite(v) || std::fabs(v) > k_max_numeric_date) {
        ok = false;
        return std::nullopt;
    }
    return static_cast<std::int64_t>(v);
}

void split_scopes(const json& v, std::vector<std::string>& granted) {
    if (v.is_string()) {
        auto s = v.get<std::string>();
        std::size_t i = 0;
        while (i < s.size()) {
            auto sp = s.find(' ', i);
            if (sp == std::string::npos) sp = s.size();
            if (sp > i) granted.push_back(s.substr(i, sp - i));
            i = sp + 1;
        }
    } else if (v.is_array()) {
        for (auto& e : v)
            if (e.is_string()) granted.push_back(e.get<std::string>());
    }
}

bool audience_matches(const json& p, const std::vector<std::string>& audiences) {
    auto it = p.find("aud");
    if (it == p.end()) return false;
    auto one = [&](const json& v) {
        return v.is_string() && std::find(audiences.begin(), audiences.end(), v.get_ref<const std::string&>()) != audiences.end();
    };
    if (!it->is_array()) return one(*it);
    return std::any_of(it->begin(), it->end(), one);
}

bool claim_matches(const json& v, const std::string& value) {
    if (v.is_string()) return v.get_ref<const std::string&>() == value;
    if (v.is_array())
        return std::any_of(v.begin(), v.end(), [&](const json& e) { return e.is_string() && e.get_ref<const std::string&>() == value; });
    return v.dump() == value;
}

failure check_times(const json& p, const claim_rules& rules, std::int64_t now, verdict_entry& out) {
    bool ok = true;
    auto exp = numeric_date(p, "exp", ok), nbf = numeric_date(p, "nbf", ok), iat = numeric_date(p, "iat", ok);
    if (!ok) return failure::malformed;
    const auto skew = rules.clock_skew;
    if (!exp && rules.require_expiration) return failure::expired;
    if (exp && now > *exp + skew) return failure::expired;
    if (nbf && now + skew < *nbf) return failure::not_yet_valid;
    if (iat && now + skew < *iat) return failure::not_yet_valid;
    if (rules.max_lifetime && exp) {
        auto from = iat ? *iat : nbf ? *nbf : now;
        if (*exp - from > *rules.max_lifetime) return failure::lifetime;
    }
    out.exp = exp.value_or(0);
    out.nbf = nbf.value_or(0);
    return failure::none;
}

}  // namespace

const char* describe(failure f) {
    switch (f) {
        case failure::missing: return "missing token";
        case failure::multiple: return "more than one token";
        case failure::malformed: return "malformed token";
        case failure::alg: return "algorithm not allowed";
        case failure::crit: return "unsupported critical header";
        case failure::unknown_kid: return "no key for this token";
        case failure::signature: return "invalid signature";
        case failure::expired: return "token expired";
        case failure::not_yet_valid: return "token not yet valid";
        case failure::lifetime: return "token lifetime too long";
        case failure::issuer: return "wrong issuer";
        case failure::audience: return "wrong audience";
        case failure::claim: return "required claim missing or wrong";
        case failure::header_value: return "claim value not allowed in a header";
        case failure::none: break;
    }
    return "invalid token";
}

failure split_token(std::string_view token, const std::vector<alg>& allowed, token_parts& out) {
    auto d1 = token.find('.');
    if (d1 == std::string_view::npos) return failure::malformed;
    auto d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return failure::malformed;
    auto h64 = token.substr(0, d1), p64 = token.substr(d1 + 1, d2 - d1 - 1), s64 = token.substr(d2 + 1);
    if (h64.empty() || p64.empty() || s64.empty()) return failure::malformed;
    auto htext = base64url_decode(h64), ptext = base64url_decode(p64), sig = base64url_decode(s64);
    if (!htext || !ptext || !sig) return failure::malformed;
    auto header = parse_object(*htext);
    if (!header) return failure::malformed;
    auto a_it = header->find("alg");
    if (a_it == header->end() || !a_it->is_string()) return failure::malformed;
    auto a = alg_from_name(a_it->get_ref<const std::string&>());  // "none" in any case is never an algorithm
    if (!a || (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *a) == allowed.end())) return failure::alg;
    if (header->contains("crit")) return failure::crit;  // we implement no extension
    out.kid.clear();
    if (auto k = header->find("kid"); k != header->end()) {
        if (!k->is_string()) return failure::malformed;
        out.kid = k->get<std::string>();
    }
    // jku, jwk, x5u, x5c in the header are ignored: keys come from the provider only.
    out.signing_input = token.substr(0, d2);
    out.payload_text = std::move(*ptext);
    out.signature = std::move(*sig);
    out.algorithm = *a;
    return failure::none;
}

failure check_claims(std::string_view payload_text, const claim_rules& rules, std::int64_t now, verdict_entry& out) {
    auto payload = parse_object(payload_text);
    if (!payload) return failure::malformed;
    const json& p = *payload;
    if (auto f = check_times(p, rules, now, out); f != failure::none) return f;
    if (!rules.issuer.empty()) {
        auto it = p.find("iss");
        if (it == p.end() || !it->is_string() || it->get_ref<const std::string&>() != rules.issuer) return failure::issuer;
    }
    if (!rules.audiences.empty() && !audience_matches(p, rules.audiences)) return failure::audience;
    for (auto& [name, value] : rules.claims) {
        auto it = p.find(name);
        if (it == p.end() || !claim_matches(*it, value)) return failure::claim;
    }
    if (!rules.scopes.empty()) {
        std::vector<std::string> granted;
        if (auto it = p.find("scope"); it != p.end()) split_scopes(*it, granted);
        if (auto it = p.find("scp"); it != p.end()) split_scopes(*it, granted);
        for (auto& need : rules.scopes)
            if (std::find(granted.begin(), granted.end(), need) == granted.end()) out.forbidden = true;
    }
    if (auto it = p.find("sub"); it != p.end() && it->is_string() && http::valid_field_value(it->get_ref<const std::string&>()))
        out.subject = it->get<std::string>();
    for (auto& [k, v] : p.items())
        if (v.is_string() || v.is_number() || v.is_boolean()) out.claims.emplace_back(k, claim_text(v));
    for (auto& [claim, header] : rules.claims_to_headers) {
        auto it = p.find(claim);
        if (it == p.end()) continue;
        auto v = claim_text(*it);
        if (!http::valid_field_value(v)) return failure::header_value;  // CR/LF smuggling through a claim
        out.headers.emplace_back(header, std::move(v));
    }
    return failure::none;
}

}  // namespace gatehouse::middleware::jwt
