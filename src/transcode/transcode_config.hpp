#pragma once
// routes[].grpc_transcode (docs/configuration.md "Translating REST to gRPC"): what the loader
// read and the descriptor set it loaded, shared by every worker's copy of the route.
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"
#include "transcode/service_set.hpp"
#include "transcode/translate.hpp"

namespace gatehouse::transcode {

struct transcode_config {
    std::string descriptor_set;         // the file, as given (watched: a change reloads the config)
    std::vector<std::string> services;  // full names ("bookstore.Bookstore")
    print_options print;
    bool ignore_unknown_query_parameters = false;
    bool passthrough_unmatched = false;  // a request no rule matches goes to the upstream as it is (else 404)
    std::shared_ptr<const service_set> loaded;
    config::source_mark mark;
};

}  // namespace gatehouse::transcode
