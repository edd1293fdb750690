#pragma once
// The discovery manager: the home of every upstream's endpoint set, on the control thread. It
// runs one provider per upstream (kept across reloads while the upstream's discovery settings
// stay the same), keeps the last good set when a source fails (last-known-good), publishes a
// set to the workers only when it changed, and knows whether every upstream has answered once
// (readiness).
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gatehouse/discovery/provider.hpp"
#include "gatehouse/config/discovery_spec.hpp"
#include "gatehouse/config/units.hpp"

namespace gatehouse::discovery {

struct upstream_discovery {
    std::string upstream;
    std::shared_ptr<const config::discovery_spec> spec;
    bool wait_for_first = true;
    config::duration first_timeout = std::chrono::seconds(10);
};

class manager {
public:
    using on_change = std::function<void(const std::string& upstream, std::shared_ptr<const endpoint_set> set)>;
    manager(boost::asio::io_context& control, on_change cb);
    ~manager();

    // Starts providers for upstreams that are new or whose discovery changed, keeps the others
    // running, stops the ones no longer configured. A changed provider inherits the old set
    // until it answers.
    void reconcile(const std::vector<upstream_discovery>& wanted);
    void stop_all();

    std::shared_ptr<const endpoint_set> current(const std::string& upstream) const;
    // True when every upstream in `used` has answered once, or does not wait for it, or its
    // first_timeout has passed (a warning is logged once for those).
    bool ready(const std::set<std::string>& used);

    nlohmann::json status(const std::string& upstream) const;

    struct figures {
        std::string upstream;
        std::uint64_t changed = 0, unchanged = 0, errors = 0;
        std::size_t endpoints = 0;
        double seconds_since_success = -1;  // -1: never
    };
    std::vector<figures> metrics() const;

private:
    struct entry;
    boost::asio::io_context& control_;
    on_change cb_;
    std::map<std::string, std::shared_ptr<entry>> entries_;  // by upstream name
};

}  // namespace gatehouse::discovery
