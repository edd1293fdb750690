#pragma once
// Middleware in the config: each entry of a `middleware:` list is one key, the middleware type,
// whose settings are validated at load time by that type's parser (registered by name in one
// explicit list, src/middleware/registry.cpp) into an immutable spec; a snapshot build then
// turns every spec into a running instance.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"

namespace YAML {
class Node;
}

namespace gatehouse::middleware {
class middleware;
struct build_services;
}  // namespace gatehouse::middleware

namespace gatehouse::config {

struct gateway_config;

struct middleware_spec {
    virtual ~middleware_spec() = default;
    std::string type;
    std::string path;  // where it was configured, for messages
    source_mark mark;
    std::vector<std::string> watched_files;  // files it reads: a change of one reloads the config
    // Upstreams it calls (request_context::upstream): the loader checks that each exists and
    // counts it as used.
    std::vector<std::pair<std::string, source_mark>> upstreams;
    // Builds the runtime instance (snapshot build time, control thread). May add diagnostics
    // (a key file that does not load) and return null.
    virtual std::shared_ptr<const middleware::middleware> build(middleware::build_services& services, diagnostics& d) const = 0;
};

using middleware_list = std::vector<std::shared_ptr<const middleware_spec>>;

// Parses one middleware's settings. `top` is the whole config as far as it was read (for
// references such as jwt.provider -> jwt_providers), `root` the whole YAML document.
using middleware_parser = std::function<std::shared_ptr<middleware_spec>(const YAML::Node& settings, const std::string& path,
                                                                         diagnostics& d, const YAML::Node& root)>;

void register_middleware_type(const std::string& type, middleware_parser parser);
// A top-level section owned by a middleware type (jwt_providers): validated when present.
using section_validator = std::function<void(const YAML::Node& section, const std::string& path, diagnostics& d)>;
void register_config_section(const std::string& key, section_validator validator);
const section_validator* find_config_section(const std::string& key);
std::vector<std::string> config_section_names();
const middleware_parser* find_middleware_type(const std::string& type);
std::vector<std::string> middleware_type_names();

}  // namespace gatehouse::config
