#pragma once
// Parsing of routes[].grpc_transcode (docs/configuration.md "Translating REST to gRPC"): the
// descriptor set is loaded here, so a file that does not load, a service not in it or a rule
// that does not parse is an error at the key that named it. Kept apart from loader.cpp.
#include <memory>
#include <string>

#include "transcode/transcode_config.hpp"
#include "yaml_reader.hpp"

namespace gatehouse::config {

std::shared_ptr<const transcode::transcode_config> read_grpc_transcode(const YAML::Node& n, const std::string& path, diagnostics& d);

}  // namespace gatehouse::config
