// discovery: { dns: { name: orders.svc, port: 8080, family: any, refresh: 5s, resolvers: [...] } }
//         or { dns: { srv: _http._tcp.payments.svc, refresh: 10s } }
// Re-resolves every `refresh`, sooner when the records' TTL is shorter (never more often than
// once a second). SRV: every record's target is resolved to its addresses with the record's
// port, priority and weight; the lowest priority group present takes the traffic.
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>

#include "config/yaml_reader.hpp"
#include "discovery/dns/resolver.hpp"
#include "discovery/registry.hpp"
#include "gatehouse/util/net.hpp"

namespace gatehouse::discovery {

namespace {

using namespace std::chrono_literals;

struct dns_settings {
    std::string name;  // A/AAAA
    std::string srv;   // or SRV
    std::uint16_t port = 0;
    dns::family fam = dns::family::any;
    config::duration refresh = 5s;
    config::duration timeout = 2s;
    std::vector<config::host_port> resolvers;
};

class dns_provider : public provider, public std::enable_shared_from_this<dns_provider> {
public:
    dns_provider(provider_services& s, dns_settings cfg)
        : out_(s.out), timer_(s.control), cfg_(std::move(cfg)), resolver_(dns::resolver::create(s.control, cfg_.resolvers, cfg_.timeout)) {}
    void start() { run(); }
    void stop() override {
        stopped_ = true;
        timer_.cancel();
        resolver_->shutdown();
    }

private:
    void run() {
        if (cfg_.srv.empty()) {
            endpoint_spec s;
            s.address = {cfg_.name, cfg_.port};
            s.source = "dns A/AAAA " + cfg_.name;
            resolve({s});
            return;
        }
        resolver_->srv(cfg_.srv, [self = shared_from_this()](std::string error, std::vector<dns::srv_record> records) {
            if (self->stopped_) return;
            if (!error.empty()) return self->done("SRV " + self->cfg_.srv + ": " + error, {}, 0s);
            std::vector<endpoint_spec> specs;
            for (auto& r : records) {
                if (r.target.empty() || r.target == ".") continue;  // RFC 2782: the service is not available there
                endpoint_spec s;
                s.address = {r.target, r.port};
                s.priority = r.priority;
                s.weight = std::max<std::uint32_t>(1, r.weight);  // weight 0: the smallest share, not none
                s.source = "dns SRV " + self->cfg_.srv;
                specs.push_back(std::move(s));
            }
            if (specs.empty()) return self->done("SRV " + self->cfg_.srv + ": no usable records", {}, 0s);
            self->resolve(std::move(specs));
        });
    }

    void resolve(std::vector<endpoint_spec> specs) {
        dns::resolve_endpoints(resolver_, specs, cfg_.fam,
                               [self = shared_from_this()](std::string error, std::vector<endpoint> eps, std::chrono::seconds ttl) {
                                   if (self->stopped_) return;
                                   self->done(std::move(error), std::move(eps), ttl);
                               });
    }

    void done(std::string error, std::vector<endpoint> eps, std::chrono::seconds ttl) {
        config::duration next = cfg_.refresh;
        if (error.empty() && ttl > 0s && ttl < std::chrono::duration_cast<std::chrono::seconds>(next))
            next = std::max<config::duration>(1s, ttl);
        if (error.empty()) out_.publish(std::move(eps));
        else out_.fail(std::move(error));
        timer_.expires_after(next);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec && !self->stopped_) self->run();
        });
    }

    sink& out_;
    boost::asio::steady_timer timer_;
    dns_settings cfg_;
    std::shared_ptr<dns::resolver> resolver_;
    bool stopped_ = false;
};

struct dns_spec : config::discovery_spec {
    dns_settings cfg;
    std::shared_ptr<provider> start(provider_services& s) const override {
        auto p = std::make_shared<dns_provider>(s, cfg);
        p->start();
        return p;
    }
};

bool valid_dns_name(std::string_view n) {
    if (n.empty() || n.size() > 253) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_'; });
}

std::shared_ptr<config::discovery_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d) {
    config::map_reader r(n, path, d, {"name", "srv", "port", "family", "refresh", "timeout", "resolvers"});
    if (!r.ok()) return nullptr;
    auto spec = std::make_shared<dns_spec>();
    auto& c = spec->cfg;
    if (auto v = r.string("name")) c.name = *v;
    if (auto v = r.string("srv")) c.srv = *v;
    if (c.name.empty() == c.srv.empty())
        d.error(config::mark_of(n), path, "needs exactly one of name (A/AAAA records) and srv (SRV records)");
    for (auto* v : {&c.name, &c.srv})
        if (!v->empty() && !valid_dns_name(*v)) d.error(config::mark_of(n), path, "'" + *v + "' is not a DNS name");
    if (auto p = r.integer("port", 1, 65535)) c.port = static_cast<std::uint16_t>(*p);
    if (!c.name.empty() && c.port == 0 && !r.has("port"))
        d.error(config::mark_of(n), path + ".port", "required with name (A/AAAA records carry no port)");
    if (!c.srv.empty() && r.has("port")) r.error("port", "SRV records carry their own port; remove port");
    if (auto f = r.string("family")) {
        if (*f == "any") c.fam = dns::family::any;
        else if (*f == "ipv4") c.fam = dns::family::ipv4;
        else if (*f == "ipv6") c.fam = dns::family::ipv6;
        else r.error("family", "expected any, ipv4 or ipv6, found '" + *f + "'");
    }
    if (auto v = r.duration_value("refresh")) {
        if (*v < 1s) r.error("refresh", "must be at least 1s");
        else c.refresh = *v;
    }
    if (auto v = r.duration_value("timeout")) {
        if (v->count() <= 0) r.error("timeout", "must be greater than zero");
        else c.timeout = *v;
    }
    if (auto list = r.string_list("resolvers")) {
        for (auto& s : *list) {
            auto hp = config::parse_host_port(s);
            if (!hp && util::ip_address::parse(s)) hp = config::host_port{s, 53};
            if (!hp || !util::ip_address::parse(hp->host)) r.error("resolvers", "expected IP:port (or an IP, port 53), found '" + s + "'");
            else c.resolvers.push_back({hp->host, hp->port ? hp->port : std::uint16_t(53)});
        }
    }
    r.finish();
    std::string res;
    for (auto& s : c.resolvers) res += s.host + ":" + std::to_string(s.port) + ",";
    spec->identity = "dns|" + c.name + "|" + c.srv + "|" + std::to_string(c.port) + "|" + std::to_string(static_cast<int>(c.fam)) + "|" +
                     std::to_string(c.refresh.count()) + "|" + std::to_string(c.timeout.count()) + "|" + res;
    spec->describe = c.srv.empty() ? "dns A/AAAA " + c.name + " port " + std::to_string(c.port) : "dns SRV " + c.srv;
    return spec;
}

}  // namespace

void register_dns() { config::register_discovery_type("dns", parse); }

}  // namespace gatehouse::discovery
