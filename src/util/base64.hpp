#pragma once
// Standard base64 (RFC 4648 §4, padded), as etcd's JSON gateway writes keys and values.
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::util {

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);  // nullopt on invalid input

}  // namespace gatehouse::util
