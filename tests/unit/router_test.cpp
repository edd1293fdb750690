#include <gtest/gtest.h>

#include "gatehouse/config/config.hpp"
#include "router/route_table.hpp"

using namespace gatehouse;

namespace {

std::vector<config::route_config> routes_from(const std::string& yaml) {
    auto r = config::load_string("listeners: [{ name: p, listen: 127.0.0.1:1 }]\nroutes:\n" + yaml, "t.yaml");
    EXPECT_TRUE(r.config) << r.diags.to_string();
    return r.config ? r.config->routes : std::vector<config::route_config>{};
}

std::string match(const router::route_table& t, std::string_view host, std::string_view path, std::string_view method = "GET",
                  std::vector<http::field> headers = {}, std::string_view query = {}) {
    router::request_view v{method, host, path, query, headers};
    auto* r = t.match(v);
    return r ? r->config.name : "none";
}

}  // namespace

TEST(Router, PathKinds) {
    router::route_table t(routes_from(R"(
  - { name: exact, match: { path: /a }, respond: { status: 200 } }
  - { name: prefix, match: { path_prefix: /a/ }, respond: { status: 200 } }
  - { name: regex, match: { path_regex: "/items/[0-9]+" }, respond: { status: 200 } }
)"));
    EXPECT_EQ(match(t, "h", "/a"), "exact");
    EXPECT_EQ(match(t, "h", "/a/b"), "prefix");
    EXPECT_EQ(match(t, "h", "/items/42"), "regex");
    EXPECT_EQ(match(t, "h", "/items/42x"), "none");  // regexes match the whole path
    EXPECT_EQ(match(t, "h", "/b"), "none");
}

TEST(Router, ConfigOrderWithinAHostGroup) {
    router::route_table t(routes_from(R"(
  - { name: first, match: { path_prefix: / }, respond: { status: 200 } }
  - { name: second, match: { path: /x }, respond: { status: 200 } }
)"));
    EXPECT_EQ(match(t, "h", "/x"), "first");
}

TEST(Router, HostPrecedenceExactThenLongestWildcardThenAny) {
    router::route_table t(routes_from(R"(
  - { name: any, match: { path_prefix: / }, respond: { status: 200 } }
  - { name: wild, match: { host: "*.example.com" }, respond: { status: 200 } }
  - { name: wild-long, match: { host: "*.api.example.com" }, respond: { status: 200 } }
  - { name: exact, match: { host: api.example.com }, respond: { status: 200 } }
  - { name: exact-only-x, match: { host: x.example.com, path: /x }, respond: { status: 200 } }
)"));
    EXPECT_EQ(match(t, "api.example.com", "/"), "exact");
    EXPECT_EQ(match(t, "v1.api.example.com", "/"), "wild-long");
    EXPECT_EQ(match(t, "www.example.com", "/"), "wild");
    EXPECT_EQ(match(t, "example.com", "/"), "any");  // *.example.com needs a label before it
    EXPECT_EQ(match(t, "other.org", "/"), "any");
    // A host group whose routes do not match falls through to the less specific groups.
    EXPECT_EQ(match(t, "x.example.com", "/x"), "exact-only-x");
    EXPECT_EQ(match(t, "x.example.com", "/y"), "wild");
    auto order = t.precedence_order();
    ASSERT_EQ(order.size(), 5u);
    EXPECT_EQ(order.front()->config.name, "exact");
    EXPECT_EQ(order.back()->config.name, "any");
}

TEST(Router, MethodsHeadersQuery) {
    router::route_table t(routes_from(R"(
  - { name: v2, match: { path_prefix: /, headers: { X-Version: "2" } }, respond: { status: 200 } }
  - { name: flag, match: { path_prefix: /, query: { debug: ~ } }, respond: { status: 200 } }
  - { name: tenant, match: { path_prefix: /, query: { tenant: acme } }, respond: { status: 200 } }
  - { name: writes, match: { path_prefix: /, methods: [POST, PUT] }, respond: { status: 200 } }
)"));
    EXPECT_EQ(match(t, "h", "/", "GET", {{"x-version", "2"}}), "v2");
    EXPECT_EQ(match(t, "h", "/", "GET", {{"X-VERSION", "2"}}), "v2");
    EXPECT_EQ(match(t, "h", "/", "GET", {{"x-version", "3"}}), "none");
    EXPECT_EQ(match(t, "h", "/", "GET", {}, "a=1&debug"), "flag");
    EXPECT_EQ(match(t, "h", "/", "GET", {}, "tenant=acme"), "tenant");
    EXPECT_EQ(match(t, "h", "/", "GET", {}, "tenant=other"), "none");
    EXPECT_EQ(match(t, "h", "/", "POST"), "writes");
    EXPECT_EQ(match(t, "h", "/", "post"), "none");  // methods are case-sensitive (RFC 9110 §9.1)
}

TEST(Router, QueryParam) {
    EXPECT_EQ(router::query_param("a=1&b=2", "b"), "2");
    EXPECT_EQ(router::query_param("a=1&b", "b"), "");
    EXPECT_FALSE(router::query_param("a=1&bb=2", "b"));
}

TEST(Router, WithoutQueryParams) {
    std::vector<std::string> key{"key"};
    EXPECT_EQ(router::without_query_params("key=s3cret", key), "");
    EXPECT_EQ(router::without_query_params("a=1&key=s&b=2&key&c", key), "a=1&b=2&c");
    EXPECT_EQ(router::without_query_params("keys=1&akey=2&key=", key), "keys=1&akey=2");
    EXPECT_EQ(router::without_query_params("a=1&&b=2", key), "a=1&b=2");  // empty pairs dropped too
    EXPECT_EQ(router::without_query_params("a=1", {}), "a=1");
}
