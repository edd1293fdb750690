#include <gtest/gtest.h>

#include "gatehouse/config/config.hpp"

using namespace gatehouse::config;

namespace {

load_result load(const std::string& yaml) { return load_string(yaml, "test.yaml"); }

std::string all(const load_result& r) { return r.diags.to_string(); }

const char* k_minimal = R"(
listeners:
  - name: public
    listen: 127.0.0.1:8080
routes:
  - name: r
    match: { path: /x }
    respond: { status: 200, body: hi }
)";

}  // namespace

TEST(Config, MinimalIsValidWithDefaults) {
    auto r = load(k_minimal);
    ASSERT_TRUE(r.config) << all(r);
    EXPECT_EQ(r.config->workers, 0u);
    EXPECT_EQ(r.config->limits.max_headers, 100u);
    EXPECT_EQ(r.config->limits.header_timeout, std::chrono::seconds(10));
    EXPECT_EQ(r.config->admin.listen.port, 9901);
    ASSERT_EQ(r.config->routes.size(), 1u);
    EXPECT_EQ(r.config->routes[0].match.path_kind, path_match::exact);
}

TEST(Config, UnknownKeyHasLineColumnPathAndSuggestion) {
    auto r = load(R"(listeners:
  - name: public
    listen: 127.0.0.1:8080
routes:
  - name: r
    match: { path_prefx: /x }
    respond: { status: 200 }
)");
    EXPECT_FALSE(r.config);
    auto text = all(r);
    EXPECT_NE(text.find("test.yaml:6:14: routes[0].match.path_prefx: unknown key 'path_prefx' (did you mean 'path_prefix'?)"),
              std::string::npos)
        << text;
}

TEST(Config, ReportsEveryProblemNotJustTheFirst) {
    auto r = load(R"(workers: lots
listeners:
  - listen: nowhere
limits: { header_timeout: 5 parsecs, max_headers: 0 }
routes:
  - name: a
    match: { path: x }
    upstream: missing
  - name: a
    respond: { status: 99 }
)");
    EXPECT_FALSE(r.config);
    auto text = all(r);
    EXPECT_NE(text.find("workers: expected an integer"), std::string::npos) << text;
    EXPECT_NE(text.find("listeners[0].listen: expected host:port"), std::string::npos) << text;
    EXPECT_NE(text.find("limits.header_timeout: expected a duration"), std::string::npos) << text;
    EXPECT_NE(text.find("limits.max_headers: must be between 1 and 10000"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[0].match.path: must start with '/'"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[0].upstream: no upstream named 'missing'"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[1].name: duplicate route name 'a'"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[1].respond.status: must be between 200 and 599"), std::string::npos) << text;
}

TEST(Config, YamlSyntaxErrorHasPosition) {
    auto r = load("listeners: [\n  - a\nroutes: {");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("test.yaml:"), std::string::npos);
    EXPECT_NE(all(r).find("YAML syntax error"), std::string::npos) << all(r);
}

TEST(Config, RouteNeedsExactlyOneAction) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes:
  - name: both
    respond: { status: 200 }
    redirect: { status: 301, path: /x }
  - name: none
    match: { path: /y }
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("routes[0]: a route needs exactly one of upstream, upstreams, respond, redirect and compose"), std::string::npos)
        << all(r);
    EXPECT_NE(all(r).find("routes[1]: a route needs exactly one"), std::string::npos) << all(r);
}

TEST(Config, UpstreamsAndLoadBalancers) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes:
  - { name: a, upstream: u1 }
  - { name: b, upstream: u2 }
upstreams:
  - name: u1
    discovery: { static: [127.0.0.1:9001, { address: "127.0.0.1:9002", weight: 3 }] }
    load_balancer: weighted
    pool: { max_connections: 8, idle_timeout: 2m, connect_timeout: 250ms }
  - name: u2
    discovery: { static: ["[::1]:9003"] }
    load_balancer: { policy: ring_hash, hash_on: { header: X-User } }
)");
    ASSERT_TRUE(r.config) << all(r);
    auto& u = r.config->upstreams;
    ASSERT_EQ(u.size(), 2u);
    ASSERT_TRUE(u[0].discovery);
    EXPECT_EQ(u[0].discovery->type, "static");
    EXPECT_NE(u[0].discovery->identity.find("127.0.0.1:9002*3"), std::string::npos) << u[0].discovery->identity;
    EXPECT_EQ(u[0].load_balancer.policy, lb_policy::weighted);
    EXPECT_EQ(u[0].pool.max_connections, 8u);
    EXPECT_EQ(u[0].pool.idle_timeout, std::chrono::minutes(2));
    EXPECT_EQ(u[0].pool.connect_timeout, std::chrono::milliseconds(250));
    EXPECT_NE(u[1].discovery->identity.find("::1:9003"), std::string::npos);
    EXPECT_EQ(u[1].load_balancer.policy, lb_policy::ring_hash);
    EXPECT_EQ(u[1].load_balancer.hash_on, lb_config::hash_source::header);
    EXPECT_EQ(u[1].load_balancer.hash_header, "x-user");
}

TEST(Config, BadLoadBalancerSuggests) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes: [{ name: a, upstream: u }]
upstreams:
  - { name: u, discovery: { static: [127.0.0.1:1] }, load_balancer: least_requests }
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("unknown load balancer 'least_requests' (did you mean 'least_request'?)"), std::string::npos) << all(r);
}

TEST(Config, UnusedUpstreamIsAWarningNotAnError) {
    auto r = load(std::string(k_minimal) + "upstreams: [{ name: spare, discovery: { static: [127.0.0.1:1] } }]\n");
    ASSERT_TRUE(r.config) << all(r);
    EXPECT_NE(all(r).find("warning: upstream 'spare' is not used by any route"), std::string::npos);
}

TEST(Config, RegexIsValidatedWithRE2) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes: [{ name: a, match: { path_regex: "/(a" }, respond: { status: 200 } }]
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("routes[0].match.path_regex: invalid regular expression"), std::string::npos) << all(r);
}

TEST(Config, HeaderValuesWithControlCharactersAreRejected) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes: [{ name: a, respond: { status: 200, headers: { X-A: "a\r\nInjected: 1" } } }]
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("must not contain CR, LF"), std::string::npos) << all(r);
}

// One token check for the scanner, the loader and middleware settings: a request header name
// with '_' can never reach a route (the scanner answers 400), so `check` refuses it with a hint.
TEST(Config, RequestHeaderNamesWithUnderscoresAreRefusedWithAHint) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes:
  - { name: a, match: { path: /a, headers: { X_Tenant: t } }, respond: { status: 200 } }
  - { name: b, match: { path: /b }, upstreams: [{ name: u, weight: 1 }], split_on: { header: X_User } }
  - { name: c, match: { path: /c }, respond: { status: 200, headers: { X_Response_Ok: "1" } } }
upstreams: [{ name: u, discovery: { static: [127.0.0.1:1] }, load_balancer: { policy: ring_hash, hash_on: { header: My_Key } } }]
)");
    EXPECT_FALSE(r.config);
    auto text = all(r);
    EXPECT_NE(text.find("X_Tenant"), std::string::npos) << text;
    EXPECT_NE(text.find("split_on.header: underscores"), std::string::npos) << text;
    EXPECT_NE(text.find("hash_on.header: underscores"), std::string::npos) << text;
    EXPECT_NE(text.find("use '-'"), std::string::npos) << text;
    EXPECT_EQ(text.find("X_Response_Ok"), std::string::npos) << text;  // a response header may have one
}

TEST(Config, JwksCaBundleThatDoesNotLoadIsAnError) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
jwt_providers:
  - name: idp
    jwks: { url: "https://id.example.com/jwks.json", ca: /nonexistent/ca.pem }
routes: [{ name: a, respond: { status: 200 } }]
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("jwks.ca: cannot load CA bundle '/nonexistent/ca.pem'"), std::string::npos) << all(r);
}

TEST(Config, ReplacePrefixNeedsPathPrefix) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes: [{ name: a, match: { path: /x }, rewrite: { replace_prefix: /y }, upstream: u }]
upstreams: [{ name: u, discovery: { static: [127.0.0.1:1] } }]
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("replace_prefix: needs match.path_prefix"), std::string::npos) << all(r);
}

TEST(Config, ListenerAddressesMustBeIpAndUnique) {
    auto r = load(R"(listeners:
  - { name: a, listen: 127.0.0.1:8080 }
  - { name: b, listen: 127.0.0.1:8080 }
  - { name: c, listen: "example.com:80" }
routes: [{ name: x, respond: { status: 200 } }]
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("listeners[1].listen: another listener already uses 127.0.0.1:8080"), std::string::npos) << all(r);
    EXPECT_NE(all(r).find("listeners[2].listen: listen addresses must be IP addresses"), std::string::npos) << all(r);
}

TEST(Config, TrustedProxiesParseAsCidr) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1, trusted_proxies: [10.0.0.0/8, "::1", bogus] }]
routes: [{ name: x, respond: { status: 200 } }]
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("not an IP address or CIDR block: 'bogus'"), std::string::npos) << all(r);
}

TEST(Config, ConnectionLimits) {
    auto ok = load(k_minimal);
    ASSERT_TRUE(ok.config);
    EXPECT_EQ(ok.config->listeners[0].max_connections, 10000u);
    EXPECT_EQ(ok.config->limits.max_connections, 50000u);
    auto set = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1, max_connections: 7 }]
limits: { max_connections: 9 }
routes: [{ name: x, respond: { status: 200 } }]
)");
    ASSERT_TRUE(set.config) << all(set);
    EXPECT_EQ(set.config->listeners[0].max_connections, 7u);
    EXPECT_EQ(set.config->limits.max_connections, 9u);
    auto bad = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1, max_connections: 0 }]
routes: [{ name: x, respond: { status: 200 } }]
)");
    EXPECT_FALSE(bad.config);
    EXPECT_NE(all(bad).find("test.yaml:1:"), std::string::npos) << all(bad);
    EXPECT_NE(all(bad).find("listeners[0].max_connections"), std::string::npos) << all(bad);
}

TEST(Config, MissingFileIsReported) {
    auto r = load_file("/nonexistent/gatehouse.yaml");
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("/nonexistent/gatehouse.yaml:0:0: cannot read the config file"), std::string::npos) << all(r);
}

TEST(Units, Durations) {
    EXPECT_EQ(parse_duration("250ms"), duration(250));
    EXPECT_EQ(parse_duration("5s"), duration(5000));
    EXPECT_EQ(parse_duration("2m"), duration(120000));
    EXPECT_EQ(parse_duration("1h"), duration(3600000));
    EXPECT_EQ(parse_duration("1d"), duration(86400000));
    EXPECT_EQ(format_duration(duration(86400000)), "1d");
    EXPECT_FALSE(parse_duration("5"));
    EXPECT_FALSE(parse_duration("-5s"));
    EXPECT_FALSE(parse_duration("5 parsecs"));
    EXPECT_FALSE(parse_duration("99999999999999999h"));
}

TEST(Units, Sizes) {
    EXPECT_EQ(parse_size("512KiB"), 512u * 1024);
    EXPECT_EQ(parse_size("10MiB"), 10u << 20);
    EXPECT_EQ(parse_size("16384"), 16384u);
    EXPECT_FALSE(parse_size("10 lots"));
}

TEST(Units, HostPort) {
    auto a = parse_host_port("127.0.0.1:80");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 80);
    auto b = parse_host_port("[::1]:443");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "::1");
    EXPECT_FALSE(parse_host_port("::1:443"));
    EXPECT_FALSE(parse_host_port("host"));
    EXPECT_FALSE(parse_host_port("host:99999"));
}

TEST(Diagnostics, DidYouMean) {
    EXPECT_EQ(did_you_mean("upstrem", {"upstream", "routes"}), "upstream");
    EXPECT_EQ(did_you_mean("zzzzzz", {"upstream", "routes"}), "");
}

TEST(Config, EventLoopBatchWait) {
    auto r = load(k_minimal);
    ASSERT_TRUE(r.config) << all(r);
    EXPECT_EQ(r.config->event_loop.batch_wait, std::chrono::microseconds(200));  // the default
    for (auto [text, us] : {std::pair{"50us", 50}, {"1ms", 1000}, {"0s", 0}, {"0us", 0}}) {
        auto c = load(std::string(k_minimal) + "event_loop: { batch_wait: " + text + " }\n");
        ASSERT_TRUE(c.config) << text << ": " << all(c);
        EXPECT_EQ(c.config->event_loop.batch_wait, std::chrono::microseconds(us)) << text;
    }
    auto big = load(std::string(k_minimal) + "event_loop:\n  batch_wait: 2ms\n");
    EXPECT_FALSE(big.config);
    EXPECT_NE(all(big).find("test.yaml:10:15: event_loop.batch_wait: at most 1ms"), std::string::npos) << all(big);
    auto bad = load(std::string(k_minimal) + "event_loop: { batch_wait: 50 }\n");
    EXPECT_FALSE(bad.config);
    EXPECT_NE(all(bad).find("expected a short duration such as 50us or 1ms"), std::string::npos) << all(bad);
    auto unknown = load(std::string(k_minimal) + "event_loop: { batch_size: 5 }\n");
    EXPECT_FALSE(unknown.config);
    EXPECT_NE(all(unknown).find("event_loop.batch_size: unknown key"), std::string::npos) << all(unknown);
}

namespace {

// A config with one route per entry of `routes` (YAML text of the route's body), and its diagnostics.
std::string template_problems(const std::string& routes) {
    auto r = load(
        "listeners: [{ name: p, listen: 127.0.0.1:1 }]\nupstreams: [{ name: up, discovery: { static: [127.0.0.1:1] } }]\n"
        "routes:\n" +
        routes);
    return all(r);
}

}  // namespace

TEST(ConfigPathTemplate, ParsedIntoSegments) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
routes:
  - { name: t, match: { path_template: "/users/{id}/files/{rest=**}" }, respond: { status: 200 } }
)");
    ASSERT_TRUE(r.config) << all(r);
    const auto& m = r.config->routes[0].match;
    EXPECT_EQ(m.path_kind, path_match::path_template);
    ASSERT_EQ(m.segments.size(), 4u);
    EXPECT_EQ(m.segments[1].what, template_segment::kind::variable);
    EXPECT_EQ(m.segments[1].text, "id");
    EXPECT_EQ(m.segments[3].what, template_segment::kind::rest);
    EXPECT_EQ(m.segments[3].text, "rest");
}

TEST(ConfigPathTemplate, BadTemplatesAreErrorsAtTheirLineAndColumn) {
    auto text = template_problems(R"(  - name: a
    match: { path_template: "/users/{id" }
    respond: { status: 200 }
  - name: b
    match: { path_template: "/users/{id}/x/{id}" }
    respond: { status: 200 }
  - name: c
    match: { path_template: "/files/{p=**}/meta" }
    respond: { status: 200 }
  - name: d
    match: { path_template: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}" }
    respond: { status: 200 }
  - name: e
    match: { path_template: "/users/x{id}" }
    respond: { status: 200 }
  - name: f
    match: { path_template: "/a/{p=*}" }
    respond: { status: 200 }
  - name: g
    match: { path_template: "/a//b" }
    respond: { status: 200 }
  - name: h
    match: { path_template: "/a/../b" }
    respond: { status: 200 }
  - name: i
    match: { path_template: "/%7euser/{id}" }
    respond: { status: 200 }
  - name: j
    match: { path_template: "users/{id}" }
    respond: { status: 200 }
  - name: k
    match: { path_template: "/{1st}" }
    respond: { status: 200 }
)");
    EXPECT_NE(text.find("test.yaml:5:29: routes[0].match.path_template: '{id': a variable takes a whole segment"), std::string::npos)
        << text;
    EXPECT_NE(text.find("test.yaml:8:29: routes[1].match.path_template: variable 'id' is defined twice"), std::string::npos) << text;
    EXPECT_NE(text.find("test.yaml:11:29: routes[2].match.path_template: {p=**} must be the last segment"), std::string::npos) << text;
    EXPECT_NE(text.find("test.yaml:14:29: routes[3].match.path_template: more than 8 variables"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[4].match.path_template: 'x{id}': a variable takes a whole segment"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[5].match.path_template: '{p=*}': a variable is {name} (one segment) or {name=**}"), std::string::npos)
        << text;
    EXPECT_NE(text.find("routes[6].match.path_template: an empty segment ('//')"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[7].match.path_template: '.' and '..' segments"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[8].match.path_template: literal segment '%7euser'"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[9].match.path_template: must start with '/'"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[10].match.path_template: '{1st}': a variable name is letters"), std::string::npos) << text;
}

TEST(ConfigPathTemplate, OnlyOnePathMatcher) {
    auto text = template_problems(R"(  - { name: a, match: { path: /a, path_template: "/a/{x}" }, respond: { status: 200 } }
)");
    EXPECT_NE(text.find("use only one of path, path_prefix, path_regex and path_template"), std::string::npos) << text;
}

TEST(ConfigPathTemplate, RewritePathReferencesTheTemplatesVariables) {
    auto r = load(R"(listeners: [{ name: p, listen: 127.0.0.1:1 }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:1] } }]
routes:
  - name: ok
    match: { path_template: "/users/{id}/{rest=**}" }
    rewrite: { path: "/v2/users/{path.id}/x/{path.rest}" }
    upstream: up
)");
    ASSERT_TRUE(r.config) << all(r);
    const auto& parts = r.config->routes[0].rewrite->path_parts;
    ASSERT_EQ(parts.size(), 4u);
    EXPECT_EQ(parts[0].text, "/v2/users/");
    EXPECT_TRUE(parts[1].variable);
    EXPECT_EQ(parts[1].text, "id");
    EXPECT_EQ(parts[3].text, "rest");
}

TEST(ConfigPathTemplate, RewritePathErrors) {
    auto text = template_problems(R"(  - name: a
    match: { path_template: "/users/{id}" }
    rewrite: { path: "/v2/{path.idd}" }
    upstream: up
  - name: b
    match: { path_prefix: /users/ }
    rewrite: { path: "/v2/{path.id}" }
    upstream: up
  - name: c
    match: { path_template: "/users/{id}" }
    rewrite: { path: "/v2/{id}" }
    upstream: up
  - name: d
    match: { path_prefix: /users/ }
    rewrite: { path: /fixed, strip_prefix: /users }
    upstream: up
  - name: e
    match: { path_template: "/users/{id}" }
    rewrite: { path: "v2/{path.id}" }
    upstream: up
)");
    EXPECT_NE(text.find("test.yaml:6:22: routes[0].rewrite.path: {path.idd}: the route's match.path_template has no variable 'idd' "
                        "(did you mean {path.id}?)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("routes[1].rewrite.path: {path.id}: the route has no match.path_template"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[2].rewrite.path: '{id}': a reference is {path.NAME}"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[3].rewrite.path: replaces the whole path"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[4].rewrite.path: must start with '/'"), std::string::npos) << text;
}

TEST(ConfigPathTemplate, HeaderRulesAndRateLimitKeysReferenceTheRoutesVariables) {
    auto good = template_problems(R"(  - name: a
    match: { path_template: "/users/{id}" }
    upstream: up
    middleware:
      - headers: { request: { set: { x-user: "u-{path.id}" } }, response: { set: { x-user: "{path.id}" } } }
      - rate_limit: { limits: [{ name: per-user, rate: 10/s, key: [{ path: id }, client_ip] }] }
)");
    EXPECT_EQ(good, "");
    auto text = template_problems(R"(  - name: a
    match: { path_template: "/users/{id}" }
    upstream: up
    middleware:
      - headers: { request: { set: { x-user: "{path.user}" } } }
      - rate_limit: { limits: [{ name: per-user, rate: 10/s, key: { path: uid } }] }
      - headers: { request: { set: { x-user: "${path.id}" } } }
  - name: b
    match: { path_prefix: /x }
    upstream: up
    middleware:
      - headers: { request: { set: { x-user: "{path.id}" } } }
)");
    EXPECT_NE(text.find("test.yaml:8:46: routes[0].middleware[0].headers.request.set.x-user: {path.user}: the route's "
                        "match.path_template has no variable 'user'"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("routes[0].middleware[1].rate_limit.limits[0].key.path: {path.uid}: the route's match.path_template has no "
                        "variable 'uid'"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("${path.id}: path variables are written {path.id}, without '$'"), std::string::npos) << text;
    EXPECT_NE(text.find("routes[1].middleware[0].headers.request.set.x-user: {path.id}: the route has no match.path_template"),
              std::string::npos)
        << text;
}

TEST(ConfigPathTemplate, PathVariablesInAListenersChainAreRefused) {
    auto r = load(R"(listeners:
  - name: q
    listen: 127.0.0.1:2
    middleware: [{ headers: { request: { set: { x-user: "{path.id}" } } } }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:1] } }]
routes: [{ name: a, match: { path_template: "/u/{id}" }, upstream: up }]
)");
    EXPECT_NE(all(r).find("listeners[0].middleware[0].headers.request.set.x-user: {path.id}: path variables exist only on a route "
                          "with match.path_template"),
              std::string::npos)
        << all(r);
}
