// The openapi middleware's body parser (src/json/tape.hpp): what it accepts and refuses, the
// kinds of its numbers, strings unescaped, repeated names, the depth bound, and equality with
// nlohmann/json's semantics. tests/fuzz/fuzz_json_tape.cpp compares it with nlohmann/json on
// arbitrary input.
#include <gtest/gtest.h>

#include <string>

#include "json/tape.hpp"

using namespace gatehouse::json_tape;

namespace {

struct parsed {
    tape t;
    refusal why = refusal::none;
    bool ok = false;
};

parsed parse(std::string_view text, std::size_t depth = 64) {
    parsed p;
    p.ok = p.t.parse(text, depth, p.why);
    return p;
}

}  // namespace

TEST(JsonTape, AcceptsRfc8259AndRefusesWhatNlohmannRefuses) {
    for (auto good : {"0", "-0", "1.5e-3", "\"\"", "true", "null", " [ ] ", "{}", "{\"a\":[1,{\"b\":null}]}",
                      "\xEF\xBB\xBF{}", "\"\\u00e9\\ud83d\\ude00\"", "\"caf\xC3\xA9\""}) {
        auto p = parse(good);
        EXPECT_TRUE(p.ok) << good;
        EXPECT_EQ(nlohmann::json::accept(std::string(good)), true) << good;
    }
    for (auto bad : {"", " ", "01", "1.", ".5", "+1", "1e", "-", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "[1 2]",
                     "'x'", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\x01\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"",
                     "\"\xF4\x90\x80\x80\"", "\"\xE2\x82\"", "1e400", "-1e400", "nul", "truex", "[1]]", "{}{}",
                     "\xEF\xBB{}"}) {
        auto p = parse(bad);
        EXPECT_FALSE(p.ok) << bad;
        EXPECT_EQ(p.why, refusal::syntax) << bad;
        EXPECT_FALSE(nlohmann::json::accept(std::string(bad))) << bad;
    }
}

TEST(JsonTape, NumbersKeepNlohmannsKinds) {
    auto p = parse("[17, -4, 18446744073709551615, 18446744073709551616, -9223372036854775808, "
                   "-9223372036854775809, 9.5, 1e-400, -0]");
    ASSERT_TRUE(p.ok);
    auto it = p.t.root().items();
    auto next = [&] {
        auto v = it.value();
        it.next();
        return v;
    };
    auto v = next();
    EXPECT_EQ(v.type(), kind::unsigned_integer);
    EXPECT_EQ(v.unsigned_integer(), 17u);
    v = next();
    EXPECT_EQ(v.type(), kind::integer);
    EXPECT_EQ(v.integer(), -4);
    v = next();
    EXPECT_EQ(v.type(), kind::unsigned_integer);
    EXPECT_EQ(v.unsigned_integer(), 18446744073709551615u);
    EXPECT_EQ(next().type(), kind::floating);  // past 64 bits
    v = next();
    EXPECT_EQ(v.type(), kind::integer);
    EXPECT_EQ(v.integer(), INT64_MIN);
    EXPECT_EQ(next().type(), kind::floating);
    v = next();
    EXPECT_EQ(v.type(), kind::floating);
    EXPECT_EQ(v.number(), 9.5);
    v = next();
    EXPECT_EQ(v.type(), kind::floating);  // below double's range: rounds to 0, as strtod
    EXPECT_EQ(v.number(), 0.0);
    v = next();
    EXPECT_EQ(v.type(), kind::integer);
    EXPECT_EQ(v.integer(), 0);
    EXPECT_TRUE(it.done());
}

TEST(JsonTape, StringsUnescapedOnlyWhenTheyHoldEscapes) {
    std::string text = R"(["plain", "tab\there \u00e9 \ud83d\ude00 \/ \"q\""])";
    auto p = parse(text);
    ASSERT_TRUE(p.ok);
    auto it = p.t.root().items();
    auto plain = it.value().string();
    EXPECT_EQ(plain, "plain");
    EXPECT_TRUE(plain.data() >= text.data() && plain.data() < text.data() + text.size());  // a view into the text
    it.next();
    EXPECT_EQ(it.value().string(), "tab\there \xC3\xA9 \xF0\x9F\x98\x80 / \"q\"");
}

TEST(JsonTape, ARepeatedNameKeepsItsLastValueInSmallAndLargeObjects) {
    auto small = parse(R"({"a": 1, "b": 2, "a": "x", "\u0061": [true]})");
    ASSERT_TRUE(small.ok);
    auto root = small.t.root();
    EXPECT_EQ(root.size(), 2u);
    value a(nullptr, 0);
    ASSERT_TRUE(root.find("a", a));
    EXPECT_TRUE(a.is_array());
    std::size_t members = 0;
    for (auto m = root.members(); !m.done(); m.next()) ++members;
    EXPECT_EQ(members, 2u);

    std::string big = "{";
    for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
    big += "\"k7\": \"last\"}";
    auto large = parse(big);
    ASSERT_TRUE(large.ok);
    EXPECT_EQ(large.t.root().size(), 100u);
    value k7(nullptr, 0), k99(nullptr, 0), none(nullptr, 0);
    ASSERT_TRUE(large.t.root().find("k7", k7));
    EXPECT_EQ(k7.string(), "last");
    ASSERT_TRUE(large.t.root().find("k99", k99));
    EXPECT_EQ(k99.unsigned_integer(), 99u);
    EXPECT_FALSE(large.t.root().find("k100", none));
    EXPECT_TRUE(equal(large.t.root(), tape::from(nlohmann::json::parse(big)).root()));
}

TEST(JsonTape, DepthBoundedWhileParsing) {
    std::string deep(100'000, '[');  // refused at level 65, not after reading (or recursing) 100,000
    auto p = parse(deep, 64);
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.why, refusal::too_deep);
    std::string ok = std::string(64, '[') + std::string(64, ']');
    EXPECT_TRUE(parse(ok, 64).ok);
    EXPECT_EQ(parse("[" + ok + "]", 64).why, refusal::too_deep);
    EXPECT_TRUE(parse(R"({"a": "[[[[[[[[[[", "b": [[1]]})", 3).ok);  // brackets in strings do not count
}

TEST(JsonTape, EqualityFollowsNlohmann) {
    auto eq = [](const char* a, const char* b) { return equal(parse(a).t.root(), parse(b).t.root()); };
    EXPECT_TRUE(eq("1", "1.0"));
    EXPECT_TRUE(eq("-1", "-1.0"));
    EXPECT_FALSE(eq("1", "\"1\""));
    EXPECT_TRUE(eq(R"({"a": 1, "b": [1, 2]})", R"({"b": [1, 2.0], "a": 1})"));
    EXPECT_FALSE(eq(R"({"a": 1})", R"({"a": 1, "b": 2})"));
    EXPECT_FALSE(eq("[1, 2]", "[2, 1]"));
    EXPECT_TRUE(eq(R"({"a": 1, "a": 2})", R"({"a": 2})"));
    for (auto [a, b] : {std::pair{"18446744073709551615", "-1"}, {"1", "true"}, {"null", "false"}, {"[]", "{}"}}) {
        auto x = nlohmann::json::parse(a), y = nlohmann::json::parse(b);
        EXPECT_EQ(eq(a, b), x == y) << a << " " << b;
    }
}

TEST(JsonTape, ACopyOfAnNlohmannValueIsTheSame) {
    auto j = nlohmann::json::parse(R"({"s": "x\u0000y", "n": [1, -2, 3.5, null, false], "o": {}})");
    auto t = tape::from(j);
    auto p = parse(R"({"o": {}, "n": [1, -2, 3.5, null, false], "s": "x\u0000y"})");
    ASSERT_TRUE(p.ok);
    EXPECT_TRUE(equal(t.root(), p.t.root()));
    value s(nullptr, 0);
    ASSERT_TRUE(t.root().find("s", s));
    EXPECT_EQ(s.string(), std::string_view("x\0y", 3));
}
