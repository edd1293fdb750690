#pragma once
// The format of a discovery file: a YAML or JSON list of endpoints ("host:port" or
// { address, weight, priority, zone }), or a mapping with that list under `endpoints`.
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/discovery/provider.hpp"

namespace gatehouse::discovery {

struct endpoint_file {
    std::optional<std::vector<endpoint_spec>> endpoints;  // set when the file is valid
    std::string error;                                    // "file:line:col: path: reason" lines otherwise
};

endpoint_file parse_endpoint_file(const std::string& content, const std::string& file_name);

}  // namespace gatehouse::discovery
