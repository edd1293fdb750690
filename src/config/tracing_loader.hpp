#pragma once
// Parsing of `tracing:` (docs/configuration.md "tracing", docs/observability.md "Tracing"):
// generation, the sampling ratio and the OTLP/HTTP exporter. Kept apart from loader.cpp.
#include "gatehouse/config/config.hpp"
#include "yaml_reader.hpp"

namespace gatehouse::config {

void read_tracing(const YAML::Node& n, diagnostics& d, tracing_config& out);
// "${NAME}" references replaced by the environment's values; an unset name is an error (false,
// `missing` names it). "$${" stands for a literal "${".
bool expand_env(const std::string& in, std::string& out, std::string& missing);

}  // namespace gatehouse::config
