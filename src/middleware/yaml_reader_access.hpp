#pragma once
// Middleware parsers use the config loader's map_reader, so their messages and unknown-key
// checks look exactly like the rest of the config's.
#include "config/yaml_reader.hpp"

namespace gatehouse::middleware {
inline config::source_mark mark(const YAML::Node& n) { return config::mark_of(n); }
}  // namespace gatehouse::middleware
