#pragma once
// Digests as text, for identities and hashed secrets.
#include <string>
#include <string_view>

namespace gatehouse::util {

std::string sha256_hex(std::string_view data);

}  // namespace gatehouse::util
