#pragma once
// Digests as text, for identities and hashed secrets.
#include <string>
#include <functional>
#include <string_view>

namespace gatehouse::util {

std::string sha256_hex(std::string_view data);
// The same into a caller's buffer, no allocation (request-path lookups of hashed secrets).
std::string_view sha256_hex(std::string_view data, char (&out)[64]);

// Hashing std::string keys and looking them up by string_view, without a temporary string.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
std::string sha1_hex(std::string_view data);  // Redis script ids (EVALSHA), not for security

}  // namespace gatehouse::util
