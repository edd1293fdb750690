// The unit tests load configs like main() does: every middleware and discovery type registered.
#include "discovery/registry.hpp"
#include "middleware/registry.hpp"

namespace {
const bool registered = [] {
    gatehouse::middleware::register_all();
    gatehouse::discovery::register_all();
    return true;
}();
}  // namespace
