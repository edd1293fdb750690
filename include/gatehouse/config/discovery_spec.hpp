#pragma once
// Service discovery in the config: an upstream's `discovery:` names one provider (static, dns,
// file, etcd) whose settings that provider's parser validates (registered by name in one list,
// src/discovery/registry.cpp) into an immutable spec. The discovery manager starts a provider
// from the spec on the control thread; specs with the same identity share one running provider
// across reloads.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"

namespace YAML {
class Node;
}

namespace gatehouse::discovery {
class provider;
struct provider_services;
}  // namespace gatehouse::discovery

namespace gatehouse::config {

struct discovery_spec {
    virtual ~discovery_spec() = default;
    std::string type;
    std::string path;  // where it was configured, for messages
    source_mark mark;
    // Every setting that matters to the running provider: a reload that keeps the identity keeps
    // the provider and its last endpoint set.
    std::string identity;
    // A short description for the admin API ("dns A/AAAA orders.svc:8080").
    std::string describe;
    // Starts the provider (control thread). It publishes through services.out and never blocks.
    virtual std::shared_ptr<discovery::provider> start(discovery::provider_services& services) const = 0;
};

using discovery_parser =
    std::function<std::shared_ptr<discovery_spec>(const YAML::Node& settings, const std::string& path, diagnostics& d)>;

void register_discovery_type(const std::string& type, discovery_parser parser);
const discovery_parser* find_discovery_type(const std::string& type);
std::vector<std::string> discovery_type_names();

}  // namespace gatehouse::config
