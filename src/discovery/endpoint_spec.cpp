#include "discovery/endpoint_spec.hpp"

#include "config/yaml_reader.hpp"

namespace gatehouse::discovery {

std::optional<endpoint_spec> parse_endpoint_spec(const YAML::Node& n, const std::string& path, config::diagnostics& d) {
    endpoint_spec e;
    std::optional<std::string> text;
    if (n.IsMap()) {
        config::map_reader r(n, path, d, {"address", "weight", "priority", "zone"});
        text = r.string("address");
        if (!text && !r.has("address")) d.error(config::mark_of(n), path + ".address", "required");
        if (auto w = r.integer("weight", 1, 10000)) e.weight = static_cast<std::uint32_t>(*w);
        if (auto p = r.integer("priority", 0, 65535)) e.priority = static_cast<std::uint32_t>(*p);
        if (auto z = r.string("zone")) e.zone = *z;
        r.finish();
    } else {
        text = config::scalar_of(n, path, d);
    }
    if (!text) return std::nullopt;
    auto hp = config::parse_host_port(*text);
    if (!hp || hp->port == 0 || hp->host.empty()) {
        d.error(config::mark_of(n), path, "expected host:port with a non-zero port, found '" + *text + "'");
        return std::nullopt;
    }
    e.address = *hp;
    return e;
}

std::string identity_of(const std::vector<endpoint_spec>& eps) {
    std::string s;
    for (auto& e : eps)
        s += e.address.host + ":" + std::to_string(e.address.port) + "*" + std::to_string(e.weight) + "^" + std::to_string(e.priority) +
             "@" + e.zone + ",";
    return s;
}

}  // namespace gatehouse::discovery
