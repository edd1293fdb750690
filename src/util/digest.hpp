#pragma once
// Digests as text, for identities and hashed secrets.
#include <string>
#include <string_view>

namespace gatehouse::util {

std::string sha256_hex(std::string_view data);
std::string sha1_hex(std::string_view data);  // Redis script ids (EVALSHA), not for security

}  // namespace gatehouse::util
