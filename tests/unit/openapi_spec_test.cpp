// Loading OpenAPI descriptions (src/openapi/spec.*) and deserialising parameters per style
// (src/middleware/openapi/parameters.*): what the integration test cannot pin down exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "middleware/openapi/parameters.hpp"
#include "openapi/schema_node.hpp"
#include "openapi/spec.hpp"

namespace fs = std::filesystem;
using namespace gatehouse::openapi;
namespace mw = gatehouse::middleware::openapi_mw;

namespace {

struct spec_dir {
    fs::path dir;
    spec_dir() {
        dir = fs::temp_directory_path() / ("gatehouse-spec-" + std::to_string(::getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir);
    }
    ~spec_dir() { fs::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    }
};

const operation* find_op(const api_spec& s, std::string_view path, std::string_view method) {
    gatehouse::router::path_variables vars;
    auto* item = s.find_path(path, vars);
    if (!item) return nullptr;
    for (auto& op : item->operations)
        if (op.method == method) return &op;
    return nullptr;
}

parameter query_param(std::string name, param_style style, bool explode, std::uint8_t types, std::uint8_t items = 0) {
    parameter p;
    p.name = std::move(name);
    p.in = param_in::query;
    p.style = style;
    p.explode = explode;
    p.types = types;
    p.item_types = items;
    return p;
}

}  // namespace

TEST(OpenApiSpec, JsonSpecRefusalsNameTheFileLineAndColumn) {
    spec_dir d;
    auto path = d.write("s.json", R"({
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "paths": {"/a": {"get": {"parameters": [
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLenght": 3}}
  ]}}}
})");
    std::vector<std::string> errors;
    EXPECT_FALSE(load_api_spec(path, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind(path + ":5:63: /paths/~1a/get/parameters/0/schema/maxLenght: maxLenght: unknown keyword", 0), 0u)
        << errors[0];
}

TEST(OpenApiSpec, OpenApi30NormalisedOnto202012) {
    spec_dir d;
    auto path = d.write("s.yaml", R"(openapi: 3.0.3
info: { title: t, version: "1" }
paths:
  /a:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                tag: { type: string, nullable: true, enum: [a, b] }
                n: { type: integer, minimum: 0, exclusiveMinimum: true, maximum: 10, exclusiveMaximum: false }
                o: { $ref: "#/components/schemas/O", type: string }
components:
  schemas:
    O: { type: object, example: { x: 1 } }
)");
    std::vector<std::string> errors;
    auto s = load_api_spec(path, errors);
    ASSERT_TRUE(s) << (errors.empty() ? "" : errors[0]);
    EXPECT_EQ(s->version, 30);
    auto* op = find_op(*s, "/a", "POST");
    ASSERT_TRUE(op);
    ASSERT_EQ(op->body.size(), 1u);
    auto schema = *op->body[0].schema;
    auto valid = [&](const char* doc) { return s->schemas.validate(schema, json::parse(doc)).valid; };
    EXPECT_TRUE(valid(R"({"tag": null})"));
    EXPECT_TRUE(valid(R"({"tag": "a"})"));
    EXPECT_FALSE(valid(R"({"tag": "c"})"));
    EXPECT_FALSE(valid(R"({"n": 0})"));
    EXPECT_TRUE(valid(R"({"n": 10})"));
    EXPECT_TRUE(valid(R"({"o": {"x": 1}})")) << "3.0 ignores what stands beside $ref";
}

TEST(OpenApiSpec, SiblingFileRefsAndTheirErrors) {
    spec_dir d;
    d.write("pet.yaml", "Pet:\n  type: object\n  required: [name]\nBad:\n  type: object\n  properties:\n    x: { type: strin }\n");
    auto path = d.write("s.yaml", R"(openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /pets:
    post:
      requestBody: { content: { application/json: { schema: { $ref: "pet.yaml#/Pet" } } } }
)");
    std::vector<std::string> errors;
    auto s = load_api_spec(path, errors);
    ASSERT_TRUE(s) << (errors.empty() ? "" : errors[0]);
    auto schema = *find_op(*s, "/pets", "POST")->body[0].schema;
    EXPECT_FALSE(s->schemas.validate(schema, json::parse("{}")).valid);
    EXPECT_TRUE(s->schemas.validate(schema, json::parse(R"({"name": 1})")).valid);

    auto bad = d.write("bad.yaml", R"(openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /pets:
    post:
      requestBody: { content: { application/json: { schema: { $ref: "pet.yaml#/Bad" } } } }
  /cats:
    post:
      requestBody: { content: { application/json: { schema: { $ref: "cat.yaml#/Cat" } } } }
)");
    errors.clear();
    EXPECT_FALSE(load_api_spec(bad, errors));
    ASSERT_EQ(errors.size(), 2u);  // paths in name order: /cats, then /pets
    EXPECT_EQ(errors[0].rfind(bad + ":9:63: /paths/~1cats/post/requestBody/content/application~1json/schema/$ref: $ref: cannot resolve", 0), 0u)
        << errors[0];
    EXPECT_EQ(errors[1].rfind((d.dir / "pet.yaml").string() + ":7:10: /Bad/properties/x/type: type: unknown type", 0), 0u)
        << errors[1];
}

TEST(OpenApiSpec, ConcretePathsWinAndPartialSegmentTemplatesAreRefused) {
    spec_dir d;
    auto path = d.write("s.yaml", R"(openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /pets/{id}: { get: { parameters: [{ name: id, in: path, required: true, schema: { type: integer } }] } }
  /pets/mine: { get: {} }
)");
    std::vector<std::string> errors;
    auto s = load_api_spec(path, errors);
    ASSERT_TRUE(s);
    gatehouse::router::path_variables vars;
    EXPECT_EQ(s->find_path("/pets/mine", vars)->text, "/pets/mine");
    EXPECT_EQ(s->find_path("/pets/7", vars)->text, "/pets/{id}");
    EXPECT_EQ(vars.find("id"), "7");
    EXPECT_FALSE(s->find_path("/pets", vars));

    auto bad = d.write("b.yaml", "openapi: 3.1.0\ninfo: { title: t, version: \"1\" }\npaths:\n  /files/{name}.{ext}: { get: {} }\n");
    errors.clear();
    EXPECT_FALSE(load_api_spec(bad, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find(bad + ":4:3: "), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("whole segment"), std::string::npos);
}

TEST(OpenApiParameters, StylesDeserialisedAndCoerced) {
    parameter p;
    p.name = "id";
    p.types = t_array;
    p.item_types = t_integer;
    p.style = param_style::simple;
    EXPECT_EQ(mw::deserialise_value(p, "3,4,x"), json::parse(R"([3, 4, "x"])"));
    p.style = param_style::label;
    p.explode = true;
    EXPECT_EQ(mw::deserialise_value(p, ".3.4"), json::parse("[3, 4]"));
    p.style = param_style::matrix;
    EXPECT_EQ(mw::deserialise_value(p, ";id=3;id=4"), json::parse("[3, 4]"));
    p.explode = false;
    EXPECT_EQ(mw::deserialise_value(p, ";id=3,4"), json::parse("[3, 4]"));
    p.types = t_object;
    p.style = param_style::simple;
    EXPECT_EQ(mw::deserialise_value(p, "a,1,b,2"), json::parse(R"({"a": "1", "b": "2"})"));
    p.explode = true;
    EXPECT_EQ(mw::deserialise_value(p, "a=1,b=2"), json::parse(R"({"a": "1", "b": "2"})"));
    p.types = t_integer | t_null;
    EXPECT_EQ(mw::deserialise_value(p, "-12"), json(-12));
    EXPECT_EQ(mw::deserialise_value(p, "1.5"), json("1.5")) << "not an integer: stays text for `type` to refuse";
    p.types = t_boolean;
    EXPECT_EQ(mw::deserialise_value(p, "true"), json(true));

    auto pairs = mw::split_query("tags=a&tags=b%20c&f%5Bk%5D=v&ids=1|2&x=a+b");
    std::vector<bool> used(pairs.size());
    auto tags = query_param("tags", param_style::form, true, t_array);
    EXPECT_EQ(*mw::deserialise_query(tags, pairs, used), json::parse(R"(["a", "b c"])"));
    auto f = query_param("f", param_style::deep_object, true, t_object);
    EXPECT_EQ(*mw::deserialise_query(f, pairs, used), json::parse(R"({"k": "v"})"));
    auto ids = query_param("ids", param_style::pipe_delimited, false, t_array, t_integer);
    EXPECT_EQ(*mw::deserialise_query(ids, pairs, used), json::parse("[1, 2]"));
    auto missing = query_param("none", param_style::form, true, 0);
    EXPECT_FALSE(mw::deserialise_query(missing, pairs, used));
    EXPECT_EQ(used, (std::vector<bool>{true, true, true, true, false}));
    EXPECT_EQ(pairs[4].second, "a b");

    // A scalar (or a non-exploded array, or JSON content) given twice has no one value: reported
    // as repeated, never deserialised into something a schema without `type` lets through.
    auto twice = mw::split_query("id=1&id=x&list=1,2&list=3&one=5");
    std::vector<bool> used2(twice.size());
    bool repeated = false;
    auto untyped = query_param("id", param_style::form, true, 0);
    EXPECT_EQ(*mw::deserialise_query(untyped, twice, used2, &repeated), json());
    EXPECT_TRUE(repeated);
    auto list = query_param("list", param_style::form, false, t_array, t_integer);
    mw::deserialise_query(list, twice, used2, &repeated);
    EXPECT_TRUE(repeated);
    auto exploded = query_param("id", param_style::form, true, t_array, t_integer);
    EXPECT_EQ(*mw::deserialise_query(exploded, twice, used2, &repeated), json::parse(R"([1, "x"])"));
    EXPECT_FALSE(repeated);
    auto one = query_param("one", param_style::form, true, t_integer);
    EXPECT_EQ(*mw::deserialise_query(one, twice, used2, &repeated), json(5));
    EXPECT_FALSE(repeated);
}
