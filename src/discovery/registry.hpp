#pragma once
// The explicit list of discovery providers. register_all() is called once at start-up (main, and
// the tests) before any config is loaded, like middleware::register_all().
#include "gatehouse/config/discovery_spec.hpp"
#include "gatehouse/discovery/provider.hpp"

namespace gatehouse::discovery {

void register_all();

}  // namespace gatehouse::discovery
