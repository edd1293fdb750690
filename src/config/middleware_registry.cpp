#include <map>
#include <mutex>

#include "gatehouse/config/middleware_spec.hpp"

namespace gatehouse::config {

namespace {
std::map<std::string, middleware_parser>& registry() {
    static std::map<std::string, middleware_parser> r;
    return r;
}
}  // namespace

void register_middleware_type(const std::string& type, middleware_parser parser) { registry()[type] = std::move(parser); }

const middleware_parser* find_middleware_type(const std::string& type) {
    auto it = registry().find(type);
    return it == registry().end() ? nullptr : &it->second;
}

namespace {
std::map<std::string, section_validator>& sections() {
    static std::map<std::string, section_validator> s;
    return s;
}
}  // namespace

void register_config_section(const std::string& key, section_validator validator) { sections()[key] = std::move(validator); }

const section_validator* find_config_section(const std::string& key) {
    auto it = sections().find(key);
    return it == sections().end() ? nullptr : &it->second;
}

std::vector<std::string> config_section_names() {
    std::vector<std::string> out;
    for (auto& [k, v] : sections()) out.push_back(k);
    return out;
}

std::vector<std::string> middleware_type_names() {
    std::vector<std::string> out;
    for (auto& [k, v] : registry()) out.push_back(k);
    return out;
}

}  // namespace gatehouse::config
