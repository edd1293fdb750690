#include <map>

#include "gatehouse/config/discovery_spec.hpp"

namespace gatehouse::config {

namespace {
std::map<std::string, discovery_parser>& registry() {
    static std::map<std::string, discovery_parser> r;
    return r;
}
}  // namespace

void register_discovery_type(const std::string& type, discovery_parser parser) { registry()[type] = std::move(parser); }

const discovery_parser* find_discovery_type(const std::string& type) {
    auto it = registry().find(type);
    return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> discovery_type_names() {
    std::vector<std::string> out;
    for (auto& [k, v] : registry()) out.push_back(k);
    return out;
}

}  // namespace gatehouse::config
