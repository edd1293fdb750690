#include "util/read_file.hpp"

#include <fstream>
#include <sstream>

namespace gatehouse::util {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return std::move(ss).str();
}

}  // namespace gatehouse::util
