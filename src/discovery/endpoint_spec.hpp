#pragma once
// One endpoint entry as the static list, a discovery file and an etcd value write it:
// "host:port" or { address: host:port, weight: N, priority: N, zone: Z }.
#include <optional>
#include <string>

#include "gatehouse/discovery/provider.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class diagnostics;
}

namespace gatehouse::discovery {

std::optional<endpoint_spec> parse_endpoint_spec(const YAML::Node& n, const std::string& path, config::diagnostics& d);

// Text for identities: the same list gives the same string.
std::string identity_of(const std::vector<endpoint_spec>& eps);

}  // namespace gatehouse::discovery
