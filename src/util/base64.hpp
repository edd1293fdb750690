#pragma once
// Base64 (RFC 4648): the standard alphabet, padded, as etcd's JSON gateway and HTTP Basic
// credentials write it, and base64url without padding, as JOSE writes it.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::util {

std::string base64_encode(std::string_view in);
// §4, padded: nothing on a length that is not a multiple of four, a character outside the
// alphabet, or '=' anywhere but the last one or two places.
std::optional<std::string> base64_decode(std::string_view in);
// §5 as JOSE uses it (RFC 7515 §2), strictly: no padding, no other characters, and the unused
// trailing bits zero (one encoding per value).
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace gatehouse::util
