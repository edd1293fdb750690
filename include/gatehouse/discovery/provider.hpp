#pragma once
// The discovery interface. A provider runs on the control thread for one upstream, never blocks
// it, and reports complete endpoint sets (or failures) to its sink, the discovery manager, which
// keeps the last good set, publishes changes to the workers and shows the state in the admin API.
// A provider is started by its spec (gatehouse/config/discovery_spec.hpp) and stopped by stop();
// after stop() it calls its sink no more.
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/units.hpp"
#include "gatehouse/discovery/endpoint.hpp"

namespace boost::asio {
class io_context;
}

namespace gatehouse::discovery {

class sink {
public:
    virtual ~sink() = default;
    // A complete set (resolved addresses); the manager publishes it only if it changed.
    virtual void publish(std::vector<endpoint> eps) = 0;
    // The source failed (timeout, SERVFAIL, unreachable, invalid data): the last set stays.
    virtual void fail(std::string error) = 0;
};

struct provider_services {
    boost::asio::io_context& control;
    sink& out;
    std::string upstream;
};

class provider {
public:
    virtual ~provider() = default;
    virtual void stop() = 0;
};

// An endpoint as configured (static list, file, etcd value): a host (IP or name) and settings.
struct endpoint_spec {
    config::host_port address;
    std::uint32_t weight = 1;
    std::uint32_t priority = 0;
    std::string zone;
    std::string source;
};

}  // namespace gatehouse::discovery
