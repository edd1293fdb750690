// routes[].compose: the reference parser, the call graph, JSON shaping and merging (KrakenD's
// documented group/target/mapping/allow/deny examples as golden cases), and the loader's errors.
#include <gtest/gtest.h>

#include "compose/compose_config.hpp"
#include "compose/graph.hpp"
#include "compose/reference.hpp"
#include "compose/shape.hpp"
#include "gatehouse/config/config.hpp"

using namespace gatehouse::compose;
using nlohmann::json;

namespace {

std::string error_of(std::string_view ref) {
    std::string error;
    EXPECT_FALSE(parse_reference(ref, error)) << ref;
    return error;
}

call_config call_named(std::string name, std::string path = "/x") {
    call_config c;
    c.name = std::move(name);
    std::string error;
    c.path = *parse_template(path, error);
    return c;
}

gatehouse::config::load_result load_routes(const std::string& route) {
    return gatehouse::config::load_string(
        "listeners: [{ name: p, listen: 127.0.0.1:1 }]\n"
        "upstreams: [{ name: users, discovery: { static: [127.0.0.1:1] } }, { name: orders, discovery: { static: [127.0.0.1:1] } }]\n"
        "routes:\n" + route,
        "test.yaml");
}

}  // namespace

TEST(ComposeReference, ReachesNestedFieldsAndArrayElements) {
    std::string error;
    auto r = parse_reference("user.addresses[0].city", error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->from, source::call);
    EXPECT_EQ(r->name, "user");
    ASSERT_EQ(r->steps.size(), 3u);
    EXPECT_EQ(r->steps[0].key, "addresses");
    EXPECT_TRUE(r->steps[1].is_index);
    EXPECT_EQ(r->steps[1].index, 0u);
    EXPECT_EQ(r->steps[2].key, "city");
    auto doc = json::parse(R"({"addresses":[{"city":"Oslo"},{"city":"Bergen"}]})");
    ASSERT_NE(find(doc, r->steps), nullptr);
    EXPECT_EQ(*find(doc, r->steps), "Oslo");
    r->steps[1].index = 5;
    EXPECT_EQ(find(doc, r->steps), nullptr);
}

TEST(ComposeReference, RequestSourcesTakeOneName) {
    std::string error;
    EXPECT_EQ(parse_reference("path.id", error)->from, source::path);
    EXPECT_EQ(parse_reference("query.x", error)->from, source::query);
    EXPECT_EQ(parse_reference("claim.sub", error)->from, source::claim);
    auto h = parse_reference("header.X-Tenant", error);
    EXPECT_EQ(h->from, source::header);
    EXPECT_EQ(h->name, "x-tenant");
    EXPECT_NE(error_of("path.a.b").find("takes one name"), std::string::npos);
    EXPECT_NE(error_of("user").find("whole response"), std::string::npos);
    EXPECT_NE(error_of("user..id").find("not a field path"), std::string::npos);
    EXPECT_NE(error_of("user.ids[x]").find("a number"), std::string::npos);
    EXPECT_NE(error_of("user.").find("not a field path"), std::string::npos);
    EXPECT_NE(error_of("").find("not a field path"), std::string::npos);
}

TEST(ComposeReference, TemplatesSplitLiteralsAndReferences) {
    std::string error;
    auto t = parse_template("/orders?user={user.id}&x=1", error);
    ASSERT_TRUE(t) << error;
    ASSERT_EQ(t->size(), 3u);
    EXPECT_EQ((*t)[0].literal, "/orders?user=");
    EXPECT_EQ((*t)[1].ref->name, "user");
    EXPECT_EQ((*t)[2].literal, "&x=1");
    EXPECT_FALSE(parse_template("/a/{user.id", error));
    EXPECT_FALSE(parse_template("/a/}", error));
}

TEST(ComposeReference, SubstitutedValuesCannotAddSegments) {
    std::string out;
    append_encoded(out, "../admin/x?y=1#z");
    EXPECT_EQ(out, "..%2Fadmin%2Fx%3Fy%3D1%23z");
    out.clear();
    append_encoded(out, "..");
    EXPECT_EQ(out, "%2E%2E");
    out.clear();
    append_encoded(out, "a.b-c_d~42");
    EXPECT_EQ(out, "a.b-c_d~42");
    EXPECT_EQ(percent_decoded("a%2Fb%zz"), "a/b%zz");
}

TEST(ComposeGraph, ReferencesMakeDependenciesInConfigOrder) {
    std::vector<call_config> calls{call_named("user", "/users/{path.id}"), call_named("orders", "/orders?u={user.id}"),
                                   call_named("recs", "/recs/{path.id}"), call_named("items", "/i/{orders.first}/{user.id}")};
    EXPECT_TRUE(link_calls(calls).empty());
    EXPECT_TRUE(calls[0].after.empty());
    EXPECT_EQ(calls[1].after, std::vector<std::size_t>{0});
    EXPECT_TRUE(calls[2].after.empty());
    EXPECT_EQ(calls[3].after, (std::vector<std::size_t>{0, 1}));
    EXPECT_EQ(run_order(calls), (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST(ComposeGraph, CyclesUnknownCallsAndDroppedFieldsAreProblems) {
    std::vector<call_config> cycle{call_named("a", "/{b.x}"), call_named("b", "/{a.x}"), call_named("c")};
    auto p = link_calls(cycle);
    ASSERT_EQ(p.size(), 2u);
    EXPECT_NE(p[0].message.find("cycle"), std::string::npos);
    std::vector<call_config> unknown{call_named("a", "/{nobody.x}")};
    p = link_calls(unknown);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NE(p[0].message.find("'nobody', which is not a call"), std::string::npos);
    std::vector<call_config> dropped{call_named("user"), call_named("o", "/{user.email}"), call_named("k", "/{user.contact}")};
    dropped[0].fields.allow = {"id", "email"};
    dropped[0].fields.rename = {{"email", "contact"}};
    p = link_calls(dropped);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].call, 1u);
    EXPECT_NE(p[0].message.find("does not keep"), std::string::npos);
}

// KrakenD's "target": only the member named is taken.
TEST(ComposeShape, SelectTakesAMember) {
    auto c = call_named("x");
    std::string error;
    c.select = *parse_json_path("data", error);
    EXPECT_EQ(shape(c, json::parse(R"({"apiVersion":"2.1","data":{"id":1,"name":"a"}})")).dump(), R"({"id":1,"name":"a"})");
    c.select = *parse_json_path("data.items[1]", error);
    EXPECT_EQ(shape(c, json::parse(R"({"data":{"items":[1,{"b":2}]}})")).dump(), R"({"b":2})");
    EXPECT_TRUE(shape(c, json::parse(R"({"other":1})")).is_null());
}

// KrakenD's allow and deny examples (docs: "Filtering"), byte-exact.
TEST(ComposeShape, AllowAndDenyKeepOrDropFields) {
    const auto response = json::parse(R"({"id":42,"name":"Ada","email":"ada@example.com","password":"x","address":{"city":"Oslo"}})");
    auto c = call_named("x");
    c.fields.allow = {"id", "name", "address"};
    EXPECT_EQ(shape(c, response).dump(), R"({"address":{"city":"Oslo"},"id":42,"name":"Ada"})");
    c.fields.allow.clear();
    c.fields.deny = {"password", "email"};
    EXPECT_EQ(shape(c, response).dump(), R"({"address":{"city":"Oslo"},"id":42,"name":"Ada"})");
    // Over a collection: each element.
    c.fields.deny = {"secret"};
    EXPECT_EQ(shape(c, json::parse(R"([{"a":1,"secret":2},{"a":3}])")).dump(), R"([{"a":1},{"a":3}])");
}

// KrakenD's "mapping": {"blog": "myblog"} renames a member.
TEST(ComposeShape, RenameMapsMembers) {
    auto c = call_named("x");
    c.fields.allow = {"id", "email"};
    c.fields.rename = {{"email", "contact"}};
    EXPECT_EQ(shape(c, json::parse(R"({"id":1,"email":"e","name":"n"})")).dump(), R"({"contact":"e","id":1})");
    auto m = call_named("y");
    m.fields.rename = {{"blog", "myblog"}};
    EXPECT_EQ(shape(m, json::parse(R"({"blog":"b","title":"t"})")).dump(), R"({"myblog":"b","title":"t"})");
}

// KrakenD's "group": each backend's response under its own key; without it, merged at the root.
TEST(ComposeMerge, GroupsAndRootMergesInConfigOrder) {
    auto answer = json::object();
    auto a = call_named("a"), b = call_named("b"), g = call_named("g");
    g.into = "last_post";
    merge(answer, a, json::parse(R"({"id":1,"name":"a"})"));
    merge(answer, b, json::parse(R"({"name":"b","role":"admin"})"));
    merge(answer, g, json::parse(R"({"title":"t"})"));
    EXPECT_EQ(answer.dump(), R"({"id":1,"last_post":{"title":"t"},"name":"b","role":"admin"})");
}

TEST(ComposeMerge, AppendConcatenatesArraysInCallOrder) {
    auto answer = json::object();
    auto a = call_named("a"), b = call_named("b");
    a.into = b.into = "items";
    a.merge = b.merge = merge_mode::append;
    merge(answer, a, json::parse("[1,2]"));
    merge(answer, b, json::parse("[3]"));
    merge(answer, b, json::parse("4"));
    EXPECT_EQ(answer.dump(), R"({"items":[1,2,3,4]})");
}

// KrakenD's "collection": a response that is an array, merged at the root.
TEST(ComposeMerge, AnArrayAtTheRootIsACollection) {
    auto answer = json::object();
    merge(answer, call_named("a"), json::parse(R"([{"id":1}])"));
    EXPECT_EQ(answer.dump(), R"({"collection":[{"id":1}]})");
}

TEST(ComposeConfig, ParsesTheTaskExample) {
    auto r = load_routes(R"(  - name: dashboard
    match: { path_template: "/dashboard/{id}", methods: [GET] }
    timeout: 800ms
    compose:
      max_body: 1MiB
      errors: summary
      calls:
        - name: user
          upstream: users
          path: "/users/{path.id}"
          required: true
          status_from: true
          into: user
          select: data
          fields: { allow: [id, name, email], rename: { email: contact } }
          timeout: 300ms
        - name: orders
          upstream: orders
          path: "/orders?user={user.id}"
          into: orders
          forward: [Authorization]
        - name: recs
          upstream: orders
          method: POST
          path: "/recs/{path.id}"
          body: { user_id: "{user.id}", n: 3 }
          into: items
          merge: append
)");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    const auto& cc = *r.config->routes[0].compose;
    ASSERT_EQ(cc.calls.size(), 3u);
    EXPECT_EQ(cc.max_body, 1u << 20);
    EXPECT_TRUE(cc.calls[0].required);
    EXPECT_EQ(cc.calls[0].timeout, std::chrono::milliseconds(300));
    EXPECT_EQ(cc.calls[1].after, std::vector<std::size_t>{0});
    EXPECT_EQ(cc.calls[1].forward, std::vector<std::string>{"authorization"});
    EXPECT_EQ(cc.calls[2].body.json.dump(), R"({"n":3,"user_id":"{user.id}"})");
    EXPECT_EQ(cc.calls[2].after, std::vector<std::size_t>{0});
}

TEST(ComposeConfig, OnlyCallsTakenWholeUnderAKeyOfTheirOwnAreSpliced) {
    auto r = load_routes(R"(  - name: d
    match: { path_template: "/d/{id}" }
    compose:
      calls:
        - { name: whole, upstream: users, path: /a, into: a }
        - { name: read, upstream: users, path: /b, into: b }
        - { name: reader, upstream: users, path: "/c/{read.id}", into: c }
        - { name: root, upstream: users, path: /d }
        - { name: picked, upstream: users, path: /e, into: e, select: data }
        - { name: kept, upstream: users, path: /f, into: f, fields: { allow: [x] } }
        - { name: shared1, upstream: users, path: /g, into: g }
        - { name: shared2, upstream: users, path: /h, into: g }
        - { name: appended, upstream: users, path: /i, into: i, merge: append }
        - { name: cached, upstream: users, path: /j, into: j, cache: true }
        - { name: errors, upstream: users, path: /k, into: _errors }
        - { name: each, upstream: users, path: "/l/{item}", into: l, foreach: { over: read.ids } }
)");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    std::vector<std::string> spliced;
    for (const auto& c : r.config->routes[0].compose->calls)
        if (c.spliced) spliced.push_back(c.name);
    EXPECT_EQ(spliced, (std::vector<std::string>{"whole", "reader"}));
}

TEST(ComposeConfig, ErrorsNameTheLineAndColumn) {
    auto r = load_routes(R"(  - name: d
    match: { path_template: "/d/{id}" }
    compose:
      calls:
        - { name: a, upstream: users, path: "/a/{path.nope}" }
        - { name: b, upstream: userz, path: "/b/{c.x}" }
        - { name: c, upstream: users, path: "/c/{b.x}", status_from: true }
        - { name: e, upstream: users, path: "/e/{ghost.x}", method: POST }
        - { name: f, upstream: users, path: "/f", method: PUT, colour: red }
)");
    EXPECT_FALSE(r.config);
    const auto text = r.diags.to_string();
    EXPECT_NE(text.find("test.yaml:8:45: routes[0].compose.calls[0].path: {path.nope}"), std::string::npos) << text;
    EXPECT_NE(text.find("{path.nope}: the route's match.path_template has no such variable"), std::string::npos) << text;
    EXPECT_NE(text.find("no upstream named 'userz' (did you mean 'users'?)"), std::string::npos) << text;
    EXPECT_NE(text.find("test.yaml:9:11: routes[0].compose.calls[1]: call 'b' is part of a reference cycle"), std::string::npos)
        << text;
    EXPECT_NE(text.find("only a required call's status"), std::string::npos) << text;
    EXPECT_NE(text.find("'ghost', which is not a call"), std::string::npos) << text;
    EXPECT_NE(text.find("at most one call may use a method other than GET"), std::string::npos) << text;
    EXPECT_NE(text.find("colour"), std::string::npos) << text;
}

TEST(ComposeConfig, ForwardRefusesFramingAndConnectionFields) {
    auto r = load_routes(R"(  - name: d
    match: { path: /d }
    compose:
      calls:
        - { name: a, upstream: users, path: "/a", forward: [authorization, Content-Length, transfer-encoding, host] }
)");
    EXPECT_FALSE(r.config);
    const auto text = r.diags.to_string();
    for (const char* name : {"'Content-Length'", "'transfer-encoding'", "'host'"})
        EXPECT_NE(text.find(std::string(name) + ": framing and connection fields are the proxy's"), std::string::npos) << text;
    EXPECT_EQ(text.find("'authorization'"), std::string::npos) << text;
}

TEST(ComposeConfig, TwoCallsWritingOneRootKeyIsAWarning) {
    auto r = load_routes(R"(  - name: d
    match: { path: /d }
    compose:
      calls:
        - { name: a, upstream: users, path: "/a", fields: { allow: [id, name] } }
        - { name: b, upstream: orders, path: "/b", fields: { allow: [name] } }
)");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    EXPECT_NE(r.diags.to_string().find("warning: writes 'name' at the root like call 'a'"), std::string::npos) << r.diags.to_string();
}

TEST(ComposeConfig, ARouteHasOneTarget) {
    auto r = load_routes(R"(  - name: d
    match: { path: /d }
    upstream: users
    compose: { calls: [ { name: a, upstream: users, path: "/a" } ] }
)");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("exactly one of upstream, upstreams, respond, redirect and compose"), std::string::npos);
}

TEST(ComposeConfig, OnlyGetCallsAreCached) {
    auto r = load_routes(R"(  - name: d
    match: { path: /d }
    compose:
      calls:
        - { name: a, upstream: users, path: "/a", cache: true }
        - { name: b, upstream: orders, path: "/b", method: POST, cache: true }
)");
    EXPECT_FALSE(r.config);
    const auto text = r.diags.to_string();
    EXPECT_NE(text.find("test.yaml:9:73: routes[0].compose.calls[1].cache: only GET calls are cached"), std::string::npos) << text;
    EXPECT_EQ(text.find("calls[0].cache"), std::string::npos) << text;
    auto ok = load_routes(R"(  - name: d
    match: { path: /d }
    compose:
      calls:
        - { name: a, upstream: users, path: "/a", cache: true }
)");
    ASSERT_TRUE(ok.config) << ok.diags.to_string();
    EXPECT_TRUE(ok.config->routes[0].compose->calls[0].cache);
}
