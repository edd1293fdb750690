// gatehouse's JSON Schema validator beyond the suite: what a hostile document cannot do to it
// (catastrophic patterns, deep nesting, huge arrays), what it refuses at compile time, and the
// shape of its error reports.
#include <gtest/gtest.h>

#include "openapi/json_limits.hpp"
#include "openapi/schema.hpp"

using namespace gatehouse::openapi;

namespace {

struct compiled {
    schema_set set;
    std::optional<std::uint32_t> id;
    std::vector<schema_diagnostic> diags;
};

compiled compile(const char* schema_text) {
    compiled c;
    c.set.add_document("urn:test", json::parse(schema_text));
    c.id = c.set.compile("urn:test", "", c.diags);
    return c;
}

}  // namespace

TEST(JsonSchema, CatastrophicPatternAnsweredInLinearTime) {
    auto c = compile(R"j({"type": "string", "pattern": "^(a|b)*$"})j");
    ASSERT_TRUE(c.id);
    std::string s(100'000, 'a');
    EXPECT_TRUE(c.set.validate(*c.id, json(s)).valid);
    s += 'c';  // the backtracking worst case: no match after a long prefix
    auto r = c.set.validate(*c.id, json(s));
    EXPECT_FALSE(r.valid);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].keyword, "pattern");
}

TEST(JsonSchema, LookaroundAndBackreferencesRefusedAtCompileTime) {
    for (auto schema : {R"j({"pattern": "^(?=a)"})j", R"j({"pattern": "(a)\\1"})j",
                        R"j({"patternProperties": {"(?!x)": true}})j"}) {
        auto c = compile(schema);
        EXPECT_FALSE(c.id) << schema;
        ASSERT_EQ(c.diags.size(), 1u) << schema;
        EXPECT_NE(c.diags[0].reason.find("RE2"), std::string::npos);
    }
    auto c = compile(R"j({"properties": {"a": {"pattern": "(?<=x)y"}}})j");
    ASSERT_EQ(c.diags.size(), 1u);
    EXPECT_EQ(c.diags[0].pointer, "/properties/a/pattern");
    EXPECT_EQ(c.diags[0].keyword, "pattern");
}

TEST(JsonSchema, UnknownAndUnsupportedKeywordsRefusedWithTheirPointer) {
    auto c = compile(R"j({"properties": {"a": {"minimun": 3}}, "$defs": {"x": {"$dynamicRef": "#a"}}})j");
    EXPECT_FALSE(c.id);
    ASSERT_EQ(c.diags.size(), 2u);
    EXPECT_EQ(c.diags[0].pointer, "/$defs/x/$dynamicRef");
    EXPECT_EQ(c.diags[1].pointer, "/properties/a/minimun");
    EXPECT_EQ(c.diags[1].keyword, "minimun");
}

TEST(JsonSchema, OpenApiAnnotationsOnlyInTheOpenApiDialect) {
    const char* schema = R"j({"type": "object", "example": {"a": 1}, "x-internal": true, "discriminator": {}})j";
    EXPECT_FALSE(compile(schema).id);
    schema_set oas(dialect{.openapi = true});
    oas.add_document("urn:test", json::parse(schema));
    std::vector<schema_diagnostic> diags;
    EXPECT_TRUE(oas.compile("urn:test", "", diags));
}

TEST(JsonSchema, DeepDocumentRefusedBeforeParsing) {
    std::string deep(100'000, '[');
    json_refusal why;
    EXPECT_FALSE(parse_bounded(deep, 64, why));
    EXPECT_EQ(why, json_refusal::too_deep);
    EXPECT_EQ(json_depth(deep, 64), 65u);  // stops counting past the limit
    // Brackets inside strings do not count.
    auto doc = parse_bounded(R"j({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[1]]})j", 3, why);
    ASSERT_TRUE(doc);
    EXPECT_EQ(why, json_refusal::none);
    EXPECT_FALSE(parse_bounded(R"j({"a": [[[1]]]})j", 3, why));
    EXPECT_FALSE(parse_bounded(R"j({"a": 1,})j", 3, why));
    EXPECT_EQ(why, json_refusal::syntax);
}

TEST(JsonSchema, RecursiveSchemaStopsAtTheDepthBound) {
    // A schema that recurses through $ref on every level of its instance: the instance's depth
    // (bounded before parsing in the middleware) decides how deep evaluation goes, and
    // k_max_eval_depth stops it whatever the document.
    auto c = compile(R"j({"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"})j");
    ASSERT_TRUE(c.id);
    json doc = json::array();
    for (std::size_t i = 0; i < k_max_eval_depth; ++i) doc = json::array({std::move(doc)});
    auto r = c.set.validate(*c.id, doc);
    EXPECT_FALSE(r.valid);
    EXPECT_TRUE(r.exhausted);
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors.back().keyword, "depth");
    json shallow = json::parse("[[[]], []]");
    EXPECT_TRUE(c.set.validate(*c.id, shallow).valid);
}

TEST(JsonSchema, StepBudgetBoundsQuadraticKeywords) {
    auto c = compile(R"j({"uniqueItems": true})j");
    ASSERT_TRUE(c.id);
    json a = json::array();
    for (int i = 0; i < 5000; ++i) a.push_back(i);
    eval_limits small{.max_steps = 10'000, .max_errors = 20};
    auto r = c.set.validate(*c.id, a, small);
    EXPECT_FALSE(r.valid);
    EXPECT_TRUE(r.exhausted);
    EXPECT_EQ(r.errors.at(0).keyword, "budget");
    EXPECT_TRUE(c.set.validate(*c.id, a, {.max_steps = 20'000'000, .max_errors = 20}).valid);
}

TEST(JsonSchema, UnevaluatedItemsNextToContainsChargedToTheBudget) {
    // Every item matches each `contains: true` (free to evaluate): what unevaluatedItems then
    // looks up is indexed in one pass, and that pass is paid for. Before, each item was a scan
    // of every match (quadratic) and the steps budget never saw it.
    auto c = compile(R"j({"allOf": [{"contains": true}, {"contains": true}], "unevaluatedItems": false})j");
    ASSERT_TRUE(c.id);
    json a = json::array();
    for (int i = 0; i < 20000; ++i) a.push_back(i);
    auto r = c.set.validate(*c.id, a, {.max_steps = 10'000, .max_errors = 20});
    EXPECT_FALSE(r.valid);
    EXPECT_TRUE(r.exhausted);
    EXPECT_EQ(r.errors.at(0).keyword, "budget");
    EXPECT_TRUE(c.set.validate(*c.id, a, {.max_steps = 1'000'000, .max_errors = 20}).valid);
    auto p = compile(R"j({"allOf": [{"patternProperties": {"^k": true}}], "unevaluatedProperties": false})j");
    ASSERT_TRUE(p.id);
    json o = json::object();
    for (int i = 0; i < 20000; ++i) o["k" + std::to_string(i)] = i;
    EXPECT_FALSE(p.set.validate(*p.id, o, {.max_steps = 10'000, .max_errors = 20}).valid);
    EXPECT_TRUE(p.set.validate(*p.id, o, {.max_steps = 1'000'000, .max_errors = 20}).valid);
    o["x"] = 1;
    auto bad = p.set.validate(*p.id, o, {.max_steps = 1'000'000, .max_errors = 20});
    ASSERT_FALSE(bad.valid);
    EXPECT_EQ(bad.errors.at(0).pointer, "/x");
}

TEST(JsonSchema, ErrorsNameThePointerAndKeywordNeverTheValue) {
    auto c = compile(R"j({"type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "integer", "minimum": 1},
                       "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}}}})j");
    ASSERT_TRUE(c.id);
    auto r = c.set.validate(*c.id, json::parse(R"j({"id": -5, "tags": ["ok", "secret-value", 7]})j"));
    EXPECT_FALSE(r.valid);
    ASSERT_EQ(r.errors.size(), 4u);
    EXPECT_EQ(r.errors[0].pointer, "/name");
    EXPECT_EQ(r.errors[0].keyword, "required");
    EXPECT_EQ(r.errors[1].pointer, "/id");
    EXPECT_EQ(r.errors[1].keyword, "minimum");
    EXPECT_EQ(r.errors[2].pointer, "/tags/1");
    EXPECT_EQ(r.errors[2].keyword, "maxLength");
    EXPECT_EQ(r.errors[3].pointer, "/tags/2");
    EXPECT_EQ(r.errors[3].keyword, "type");
    for (auto& e : r.errors) {
        EXPECT_EQ(e.detail.find("secret"), std::string::npos);
        EXPECT_EQ(e.detail.find("-5"), std::string::npos);
    }
}

TEST(JsonSchema, AtMostMaxErrorsReported) {
    auto c = compile(R"j({"items": {"type": "string"}})j");
    json a = json::array();
    for (int i = 0; i < 100; ++i) a.push_back(i);
    auto r = c.set.validate(*c.id, a);
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(r.errors.size(), 20u);
}

TEST(JsonSchema, PointerTokensEscaped) {
    auto c = compile(R"j({"additionalProperties": false})j");
    auto r = c.set.validate(*c.id, json::parse(R"j({"a/b~c": 1})j"));
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].pointer, "/a~1b~0c");
    EXPECT_EQ(r.errors[0].keyword, "false");
}
