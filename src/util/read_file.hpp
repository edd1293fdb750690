#pragma once
// Reading a whole file into a string (config, key and secret files, endpoint lists).
#include <optional>
#include <string>

namespace gatehouse::util {

// The file's bytes as they are, or nothing when it cannot be opened (errno says why).
std::optional<std::string> read_file(const std::string& path);

}  // namespace gatehouse::util
