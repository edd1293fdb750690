#pragma once
// Active health checks (upstreams[].health_check), on the control thread: every endpoint of
// every upstream that has them gets `GET path` each interval (TLS like the upstream's own
// connections), and the verdict goes into the endpoint's shared health, which the workers'
// balancers read: no snapshot rebuild, no post to the workers, no config reload.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/discovery/endpoint.hpp"
#include "upstream/cluster.hpp"

namespace gatehouse::upstream {

class health_checker {
public:
    using current_set = std::function<std::shared_ptr<const discovery::endpoint_set>(const std::string& upstream)>;
    explicit health_checker(boost::asio::io_context& control);
    ~health_checker();

    // The clusters of the snapshot in force: checks start for new ones (or ones whose settings
    // changed) and stop for the rest.
    void reconcile(const std::vector<std::shared_ptr<const cluster>>& clusters, const current_set& sets);
    // Discovery changed an upstream's set: endpoints that stay keep their checks and verdicts.
    void on_endpoints(const std::string& upstream, std::shared_ptr<const discovery::endpoint_set> set);
    void stop_all();

private:
    struct target;
    void update(target& t, const discovery::endpoint_set& set);
    boost::asio::io_context& control_;
    std::map<std::string, std::shared_ptr<target>> targets_;  // by upstream name
};

}  // namespace gatehouse::upstream
