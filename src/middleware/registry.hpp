#pragma once
// The explicit list of middleware types. register_all() is called once at start-up (main, and
// the tests) before any config is loaded.
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace gatehouse::middleware {

// What building an instance may use besides its spec (control thread, snapshot build time).
struct build_services {
    std::size_t workers = 1;
    boost::asio::io_context* control = nullptr;  // for background work (JWKS fetches)
};

void register_all();

}  // namespace gatehouse::middleware
