// ip_filter: allow and deny lists of CIDR ranges on the client's address (the peer, or the
// X-Forwarded-For client behind the listener's trusted_proxies), IPv4 and IPv6 alike (IPv4 is
// compared in its IPv6-mapped form, so ::ffff:10.1.2.3 is 10.1.2.3). Deny wins; with an allow
// list, only addresses on it pass. Refused: 403 in the usual JSON shape.
#include "gatehouse/config/middleware_spec.hpp"
#include "gatehouse/util/net.hpp"
#include "middleware/common.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"

namespace gatehouse::middleware {

namespace {

struct ip_filter_spec final : config::middleware_spec {
    std::vector<util::cidr> allow, deny;
    std::shared_ptr<const middleware> build(build_services&, config::diagnostics&) const override;
};

bool any_contains(const std::vector<util::cidr>& list, const util::ip_address& a) {
    for (auto& c : list)
        if (c.contains(a)) return true;
    return false;
}

class ip_filter final : public middleware {
public:
    explicit ip_filter(ip_filter_spec s) : spec_(std::move(s)) {}

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        auto a = util::ip_address::parse(ctx.client_address);
        bool ok = a && !any_contains(spec_.deny, *a) && (spec_.allow.empty() || any_contains(spec_.allow, *a));
        if (ok) return verdict::next;
        reply = {403, "client address not allowed", {}};
        return verdict::reply;
    }

private:
    ip_filter_spec spec_;
};

std::shared_ptr<const middleware> ip_filter_spec::build(build_services&, config::diagnostics&) const {
    return std::make_shared<ip_filter>(*this);
}

std::vector<util::cidr> parse_list(config::map_reader& r, const std::string& key) {
    std::vector<util::cidr> out;
    if (!r.has(key)) return out;
    auto list = r.string_list(key);
    if (!list) return out;
    for (auto& t : *list) {
        if (auto c = util::cidr::parse(t)) out.push_back(*c);
        else r.error(key, "'" + t + "' is not an address or CIDR range (10.0.0.0/8, 2001:db8::/32, 192.0.2.7)");
    }
    return out;
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node&) {
    auto spec = std::make_shared<ip_filter_spec>();
    config::map_reader r(n, path, d, {"allow", "deny"});
    if (!r.ok()) return nullptr;
    spec->allow = parse_list(r, "allow");
    spec->deny = parse_list(r, "deny");
    if (!r.has("allow") && !r.has("deny")) d.error(mark(n), path, "needs allow, deny or both (lists of CIDR ranges)");
    r.finish();
    return spec;
}

}  // namespace

void register_ip_filter() { config::register_middleware_type("ip_filter", parse); }

}  // namespace gatehouse::middleware
