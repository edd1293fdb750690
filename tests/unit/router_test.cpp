#include <gtest/gtest.h>

#include "gatehouse/config/config.hpp"
#include "router/route_table.hpp"
#include "router/shadowing.hpp"

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

namespace {

// The variables a route captured for a request, as "name=value;...", or "none" when no route.
std::string captured(const router::route_table& t, std::string_view path, std::string_view method = "GET") {
    router::path_variables vars;
    router::request_view v{method, "h", path, {}, {}, &vars};
    auto* r = t.match(v);
    if (!r) return "none";
    std::string out = r->config.name + ":";
    for (std::size_t i = 0; i < vars.count; ++i) out += std::string(vars.names[i]) + "=" + std::string(vars.values[i]) + ";";
    return out;
}

}  // namespace

TEST(PathTemplate, OneSegmentPerVariableLiteralsExact) {
    router::route_table t(routes_from(R"(
  - { name: order, match: { path_template: "/users/{id}/orders/{order}" }, respond: { status: 200 } }
  - { name: user, match: { path_template: "/users/{id}" }, respond: { status: 200 } }
)"));
    EXPECT_EQ(captured(t, "/users/42/orders/7"), "order:id=42;order=7;");
    EXPECT_EQ(captured(t, "/users/42"), "user:id=42;");
    EXPECT_EQ(captured(t, "/users/a%20b"), "user:id=a%20b;");  // the normalised path's text, escapes kept
    EXPECT_EQ(captured(t, "/users/42/"), "none");              // a trailing slash is one more (empty) segment
    EXPECT_EQ(captured(t, "/users/"), "none");                 // a variable is never empty
    EXPECT_EQ(captured(t, "/users"), "none");
    EXPECT_EQ(captured(t, "/users/42/orders"), "none");
    EXPECT_EQ(captured(t, "/users/42/order/7"), "none");
    EXPECT_EQ(captured(t, "/users/42/orders/7/x"), "none");
    EXPECT_EQ(captured(t, "/Users/42"), "none");  // literals are exact, case included
}

TEST(PathTemplate, RestVariableTakesTheRestOfThePathPossiblyEmpty) {
    router::route_table t(routes_from(R"(
  - { name: files, match: { path_template: "/files/{bucket}/{key=**}" }, respond: { status: 200 } }
  - { name: all, match: { path_template: "/{all=**}" }, respond: { status: 200 } }
)"));
    EXPECT_EQ(captured(t, "/files/b/a/b/c.txt"), "files:bucket=b;key=a/b/c.txt;");
    EXPECT_EQ(captured(t, "/files/b/dir/"), "files:bucket=b;key=dir/;");
    EXPECT_EQ(captured(t, "/files/b/"), "files:bucket=b;key=;");
    EXPECT_EQ(captured(t, "/files/b"), "files:bucket=b;key=;");
    EXPECT_EQ(captured(t, "/files"), "all:all=files;");
    EXPECT_EQ(captured(t, "/"), "all:all=;");
}

TEST(PathTemplate, RootAndTrailingSlashTemplates) {
    router::route_table t(routes_from(R"(
  - { name: root, match: { path_template: "/" }, respond: { status: 200 } }
  - { name: dir, match: { path_template: "/d/{name}/" }, respond: { status: 200 } }
)"));
    EXPECT_EQ(captured(t, "/"), "root:");
    EXPECT_EQ(captured(t, "/d/x/"), "dir:name=x;");
    EXPECT_EQ(captured(t, "/d/x"), "none");
    EXPECT_EQ(captured(t, "/x"), "none");
}

TEST(PathTemplate, ATemplateThatFailsOnMethodsLeavesNoVariablesForTheRouteThatWins) {
    router::route_table t(routes_from(R"(
  - { name: writes, match: { path_template: "/users/{id}", methods: [POST] }, respond: { status: 200 } }
  - { name: prefix, match: { path_prefix: /users/ }, respond: { status: 200 } }
)"));
    EXPECT_EQ(captured(t, "/users/5", "POST"), "writes:id=5;");
    EXPECT_EQ(captured(t, "/users/5", "GET"), "prefix:");
    EXPECT_EQ(captured(t, "/other", "GET"), "none");
}

TEST(PathTemplate, MatchesAtTheBoundOfVariables) {
    router::route_table t(routes_from(R"(
  - { name: eight, match: { path_template: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h=**}" }, respond: { status: 200 } }
)"));
    EXPECT_EQ(captured(t, "/1/2/3/4/5/6/7/8/9"), "eight:a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8/9;");
}

namespace {

// Which routes check would call shadowed, as "later<-earlier,...".
std::string shadowed(const std::string& yaml) {
    auto routes = routes_from(yaml);
    std::string out;
    for (auto [route, by] : router::find_shadowed_routes(routes)) {
        if (!out.empty()) out += ',';
        out += routes[route].name + "<-" + routes[by].name;
    }
    return out;
}

}  // namespace

TEST(Shadowing, PrefixCoversLongerPrefixesExactPathsAndTemplates) {
    EXPECT_EQ(shadowed(R"(
  - { name: api, match: { path_prefix: /api/ }, respond: { status: 200 } }
  - { name: users, match: { path_prefix: /api/users }, respond: { status: 200 } }
  - { name: exact, match: { path: /api/x }, respond: { status: 200 } }
  - { name: tmpl, match: { path_template: "/api/{v}/items" }, respond: { status: 200 } }
  - { name: root-exact, match: { path: /api }, respond: { status: 200 } }
  - { name: other, match: { path_template: "/apix/{v}" }, respond: { status: 200 } }
)"),
              "users<-api,exact<-api,tmpl<-api");
}

TEST(Shadowing, ExactDuplicatesAndTemplatesAgainstTemplates) {
    EXPECT_EQ(shadowed(R"(
  - { name: a, match: { path: /x }, respond: { status: 200 } }
  - { name: a2, match: { path: /x }, respond: { status: 200 } }
  - { name: t, match: { path_template: "/users/{id}" }, respond: { status: 200 } }
  - { name: t2, match: { path_template: "/users/{user}" }, respond: { status: 200 } }
  - { name: lit, match: { path: /users/me }, respond: { status: 200 } }
  - { name: lit-t, match: { path_template: "/users/me" }, respond: { status: 200 } }
  - { name: deeper, match: { path_template: "/users/{id}/orders" }, respond: { status: 200 } }
  - { name: rest, match: { path_template: "/f/{p=**}" }, respond: { status: 200 } }
  - { name: under-rest, match: { path_template: "/f/{a}/{b=**}" }, respond: { status: 200 } }
  - { name: f-prefix, match: { path_prefix: /f/x }, respond: { status: 200 } }
  - { name: f-bare, match: { path: /f }, respond: { status: 200 } }
  - { name: fg-prefix, match: { path_prefix: /fg }, respond: { status: 200 } }
)"),
              "a2<-a,t2<-t,lit<-t,lit-t<-t,under-rest<-rest,f-prefix<-rest,f-bare<-rest");
}

TEST(Shadowing, MethodsHeadersAndQueryAsFarAsDecidable) {
    EXPECT_EQ(shadowed(R"(
  - { name: get, match: { path_prefix: /, methods: [GET, HEAD] }, respond: { status: 200 } }
  - { name: get-only, match: { path: /a, methods: [GET] }, respond: { status: 200 } }
  - { name: post, match: { path: /a, methods: [POST] }, respond: { status: 200 } }
  - { name: any-method, match: { path: /b }, respond: { status: 200 } }
)"),
              "get-only<-get");
    EXPECT_EQ(shadowed(R"(
  - { name: v2, match: { path_prefix: /, headers: { x-version: "2" }, query: { debug: ~ } }, respond: { status: 200 } }
  - { name: v2-more, match: { path: /a, headers: { x-version: "2", x-b: "1" }, query: { debug: "1" } }, respond: { status: 200 } }
  - { name: v3, match: { path: /a, headers: { x-version: "3" }, query: { debug: ~ } }, respond: { status: 200 } }
  - { name: no-query, match: { path: /a, headers: { x-version: "2" } }, respond: { status: 200 } }
)"),
              "v2-more<-v2");
}

TEST(Shadowing, OnlyWithinAHostGroupAndRegexOnlyAgainstFixedPaths) {
    EXPECT_EQ(shadowed(R"(
  - { name: catch-all, match: { host: a.example.com }, respond: { status: 200 } }
  - { name: other-host, match: { host: b.example.com, path: /x }, respond: { status: 200 } }
  - { name: no-host, match: { path: /x }, respond: { status: 200 } }
  - { name: same-host, match: { host: a.example.com, path_regex: "/r.*" }, respond: { status: 200 } }
  - { name: re, match: { path_regex: "/items/[0-9]+" }, respond: { status: 200 } }
  - { name: fixed, match: { path: /items/42 }, respond: { status: 200 } }
  - { name: fixed-no, match: { path: /items/x }, respond: { status: 200 } }
  - { name: prefix-under-re, match: { path_prefix: /items/ }, respond: { status: 200 } }
)"),
              "same-host<-catch-all,fixed<-re");
}

TEST(Shadowing, ATemplateBeforeAPrefixCoversItOnlyWhenItTakesTheRest) {
    EXPECT_EQ(shadowed(R"(
  - { name: t, match: { path_template: "/a/{x}/{rest=**}" }, respond: { status: 200 } }
  - { name: p1, match: { path_prefix: /a/b/ }, respond: { status: 200 } }
  - { name: p2, match: { path_prefix: /a/b }, respond: { status: 200 } }
  - { name: p3, match: { path_prefix: /a/ }, respond: { status: 200 } }
)"),
              "p1<-t,p2<-t");
}
