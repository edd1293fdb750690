// discovery: { static: [10.0.0.5:8080, { address: "users-b.internal:8080", weight: 2 }] }
// IP literals are published at once. Host names go through the same asynchronous resolver as
// dns: (every address of every name), re-resolved every minute, retried every 5 s until they
// resolve; a failure keeps the last set.
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/steady_timer.hpp>

#include "config/yaml_reader.hpp"
#include "discovery/dns/resolver.hpp"
#include "discovery/endpoint_spec.hpp"
#include "discovery/registry.hpp"

namespace gatehouse::discovery {

namespace {

using namespace std::chrono_literals;
constexpr auto k_reresolve = 60s;
constexpr auto k_retry = 5s;

class static_provider : public provider, public std::enable_shared_from_this<static_provider> {
public:
    static_provider(provider_services& s, std::vector<endpoint_spec> specs) : out_(s.out), timer_(s.control), specs_(std::move(specs)) {
        if (!dns::all_literal(specs_)) resolver_ = dns::resolver::create(s.control, {}, std::chrono::milliseconds(2000));
    }
    void start() { run(); }
    void stop() override {
        stopped_ = true;
        timer_.cancel();
        if (resolver_) resolver_->shutdown();
    }

private:
    void run() {
        dns::resolve_endpoints(resolver_, specs_, dns::family::any,
                               [self = shared_from_this()](std::string error, std::vector<endpoint> eps, std::chrono::seconds) {
                                   if (self->stopped_) return;
                                   if (error.empty()) self->out_.publish(std::move(eps));
                                   else self->out_.fail(std::move(error));
                                   if (!self->resolver_) return;  // literals only: nothing to refresh
                                   self->timer_.expires_after(error.empty() ? k_reresolve : k_retry);
                                   self->timer_.async_wait([self](boost::system::error_code ec) {
                                       if (!ec && !self->stopped_) self->run();
                                   });
                               });
    }

    sink& out_;
    boost::asio::steady_timer timer_;
    std::vector<endpoint_spec> specs_;
    std::shared_ptr<dns::resolver> resolver_;
    bool stopped_ = false;
};

struct static_spec : config::discovery_spec {
    std::vector<endpoint_spec> endpoints;
    std::shared_ptr<provider> start(provider_services& s) const override {
        auto p = std::make_shared<static_provider>(s, endpoints);
        p->start();
        return p;
    }
};

std::shared_ptr<config::discovery_spec> parse(const YAML::Node& list, const std::string& path, config::diagnostics& d) {
    if (!list.IsSequence() || list.size() == 0) {
        d.error(config::mark_of(list), path, "expected a non-empty list of host:port or { address, weight }");
        return nullptr;
    }
    auto spec = std::make_shared<static_spec>();
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto e = parse_endpoint_spec(list[i], path + "[" + std::to_string(i) + "]", d);
        if (!e) continue;
        e->source = "static";
        spec->endpoints.push_back(std::move(*e));
    }
    spec->identity = "static|" + identity_of(spec->endpoints);
    spec->describe = std::to_string(spec->endpoints.size()) + " configured endpoint(s)";
    return spec;
}

}  // namespace

void register_static() { config::register_discovery_type("static", parse); }

}  // namespace gatehouse::discovery
