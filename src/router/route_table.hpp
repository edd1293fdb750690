#pragma once
// The compiled route table. Precedence (docs/configuration.md#routes): routes whose host is an
// exact match come first, then wildcard hosts from the longest suffix to the shortest, then
// routes without a host; inside each group, config order. The first route whose every matcher
// accepts the request wins.
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/http/fields.hpp"
#include "gatehouse/router/path_variables.hpp"

namespace re2 {
class RE2;
}

namespace gatehouse::router {

struct request_view {
    std::string_view method;
    std::string_view host;   // normalised (lower-case, no port, no trailing dot)
    std::string_view path;   // normalised
    std::string_view query;  // raw, without '?'
    http::field_list headers;
    // Where a path_template route that wins puts its variables (views into `path`); null when
    // the caller does not want them. Left as it was for a route without a template.
    path_variables* vars = nullptr;
};

struct compiled_route {
    config::route_config config;
    std::shared_ptr<const re2::RE2> regex;                      // for path_regex
    std::size_t index = 0;                                      // position in the config
    std::size_t upstream_index = static_cast<std::size_t>(-1);  // set by the snapshot builder
    // A weighted split: cluster indices with cumulative weights (set by the snapshot builder).
    std::vector<std::pair<std::size_t, std::uint64_t>> split;
    std::size_t mirror_index = static_cast<std::size_t>(-1);    // the mirror's cluster (snapshot builder)
    std::size_t fallback_index = static_cast<std::size_t>(-1);  // fallback.upstream's cluster (snapshot builder)
    std::vector<std::size_t> compose_upstreams;                 // each compose call's cluster (snapshot builder)

    bool matches(const request_view& r) const;  // every matcher except host

private:
    bool template_matches(const request_view& r) const;
};

class route_table {
public:
    explicit route_table(const std::vector<config::route_config>& routes);
    ~route_table();
    route_table(const route_table&) = delete;
    route_table& operator=(const route_table&) = delete;

    // The first route that accepts the request; what its path_template captured in *r.vars.
    const compiled_route* match(const request_view& r) const;
    // Routes in the order match() considers them (for the admin API and docs).
    std::vector<const compiled_route*> precedence_order() const;
    std::vector<compiled_route>& routes() { return routes_; }
    const std::vector<compiled_route>& routes() const { return routes_; }

private:
    struct host_group {
        std::string host;  // exact host, or the wildcard suffix including the leading '.'
        std::vector<std::size_t> routes;
    };
    const compiled_route* first_match(const host_group& g, const request_view& r) const;

    std::vector<compiled_route> routes_;
    std::vector<host_group> exact_;     // sorted by host for binary search
    std::vector<host_group> wildcard_;  // longest suffix first
    host_group any_;
};

// The value of query parameter `name` in a raw query string (first occurrence), or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);
// The raw query string without any parameter whose raw name is one of `names` (order kept).
std::string without_query_params(std::string_view query, const std::vector<std::string>& names);

}  // namespace gatehouse::router
