#include "discovery/registry.hpp"

namespace gatehouse::discovery {

void register_static();
void register_dns();
void register_file();
void register_etcd();

// The one list of discovery providers: add a line here, and a folder src/discovery/<name>/.
void register_all() {
    static bool done = false;
    if (done) return;
    done = true;
    register_static();
    register_dns();
    register_file();
    register_etcd();
}

}  // namespace gatehouse::discovery
