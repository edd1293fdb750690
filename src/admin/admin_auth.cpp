#include "admin/admin_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

#include "util/text.hpp"

namespace gatehouse::admin {

namespace {

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view s) {
    digest out{};
    unsigned int len = 0;
    EVP_Digest(s.data(), s.size(), out.data(), &len, EVP_sha256(), nullptr);
    return out;
}

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view token) {
    // RFC 6750 section 2.1: the scheme is case-insensitive, then one or more spaces.
    constexpr std::string_view scheme = "bearer ";
    if (token.empty() || authorization.size() <= scheme.size() || util::ascii_lower(authorization.substr(0, scheme.size())) != scheme)
        return false;
    auto presented = util::trim(authorization.substr(scheme.size()));
    const auto want = sha256(token);
    const auto got = sha256(presented);
    return CRYPTO_memcmp(want.data(), got.data(), want.size()) == 0;
}

bool is_probe_path(std::string_view path) { return path == "/-/healthy" || path == "/-/ready"; }

}  // namespace gatehouse::admin
