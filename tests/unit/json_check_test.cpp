// util::check_json (a JSON document checked without building it) against nlohmann's parser, and
// append_minified.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/json_check.hpp"

using namespace gatehouse::util;

namespace {
bool nlohmann_accepts(const std::string& s) { return !nlohmann::json::parse(s, nullptr, false).is_discarded(); }
}  // namespace

TEST(JsonCheck, AgreesWithNlohmannOnValidAndInvalidDocuments) {
    const std::vector<std::string> cases = {
        "{}", "[]", "0", "-0", "1.5e+10", "-12.25E-3", "true", "false", "null", "\"\"", " {\"a\" : [1, 2, {\"b\": null}] } ",
        "{\"a\":{},\"b\":[[]],\"c\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\\u00e9\"}", "\"\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "\xEF\xBB\xBF{\"bom\":1}", "[1,2,3]", "\n\t[\r]\n",
        // invalid
        "", " ", "{", "}", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{1:2}", "[01]", "[1.]", "[.5]", "[1e]",
        "[-]", "[+1]", "[1e+]", "tru", "nul", "falsey", "[true false]", "{\"a\":1 \"b\":2}", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\u12G4\"", "\"\\ud83d\"", "\"\\ud83d\\u0041\"", "\"\\ude00\"", "\"a\x01\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xc3\"", "[1] [2]", "1 2", "[\"a\"\n", "{\"a\":[}]", "[}",
        "NaN", "[Infinity]", "'a'", "{\"a\":1}x", "\xEF\xBB{}",
    };
    for (const auto& c : cases) {
        const auto r = check_json(c, 32);
        EXPECT_EQ(r.result == json_check::ok, nlohmann_accepts(c)) << "document: " << c;
    }
}

TEST(JsonCheck, RefusesNestingPastTheLimitAndCountsDeepLevelsRight) {
    EXPECT_EQ(check_json("[[[1]]]", 3).result, json_check::ok);
    EXPECT_EQ(check_json("[[[1]]]", 2).result, json_check::too_deep);
    EXPECT_EQ(check_json("{\"a\":{\"b\":[]}}", 2).result, json_check::too_deep);
    EXPECT_EQ(check_json(std::string(100000, '['), 32).result, json_check::too_deep);
    // Past 64 levels the kinds of the outer levels are kept aside: objects and arrays mixed
    // deeper than that still close in the right order.
    std::string deep;
    for (int i = 0; i < 150; ++i) deep += i % 3 == 0 ? "{\"k\":" : "[";
    deep += "1";
    for (int i = 149; i >= 0; --i) deep += i % 3 == 0 ? "}" : "]";
    EXPECT_EQ(check_json(deep, 200).result, json_check::ok);
    EXPECT_TRUE(nlohmann_accepts(deep));
    std::string wrong = deep;
    wrong[wrong.size() - 1] = ']';  // the outermost object closed as an array
    EXPECT_EQ(check_json(wrong, 200).result, json_check::syntax);
}

TEST(JsonCheck, SaysWhenTheDocumentHasWhitespaceOrAByteOrderMark) {
    EXPECT_FALSE(check_json("{\"a\":[1,\"b c\"]}", 8).loose);
    EXPECT_TRUE(check_json("{\"a\": 1}", 8).loose);
    EXPECT_TRUE(check_json("[1]\n", 8).loose);
    EXPECT_TRUE(check_json("\xEF\xBB\xBF[1]", 8).loose);
}

TEST(JsonCheck, MinifiedKeepsStringsAndDropsTheRest) {
    std::string out = "x";
    const std::string doc = "\xEF\xBB\xBF { \"a b\" : [ 1 , \"c \\\" d\" ] ,\n\t\"e\":null }\r\n";
    ASSERT_EQ(check_json(doc, 8).result, json_check::ok);
    append_minified(out, doc);
    EXPECT_EQ(out, "x{\"a b\":[1,\"c \\\" d\"],\"e\":null}");
    EXPECT_EQ(nlohmann::json::parse(out.substr(1)), nlohmann::json::parse(doc.substr(3)));
}
