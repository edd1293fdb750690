#include "middleware/registry.hpp"

namespace gatehouse::middleware {

void register_api_key();
void register_basic_auth();
void register_ip_filter();
void register_headers();
void register_cors();
void register_compress();
namespace jwt {
void register_jwt();
}
namespace rate_limit {
void register_rate_limit();
}
namespace cache {
void register_cache();
}
namespace openapi_mw {
void register_openapi();
}
namespace ext_authz {
void register_ext_authz();
}

// The one list of middleware types: add a line here, and a folder src/middleware/<name>/.
void register_all() {
    static bool done = false;
    if (done) return;
    done = true;
    register_api_key();
    register_basic_auth();
    register_ip_filter();
    register_headers();
    register_cors();
    register_compress();
    jwt::register_jwt();
    rate_limit::register_rate_limit();
    cache::register_cache();
    openapi_mw::register_openapi();
    ext_authz::register_ext_authz();
}

}  // namespace gatehouse::middleware
