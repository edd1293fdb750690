// The small helpers in src/util/ that replaced copies across the tree.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string_view>
#include <utility>

#include "util/base64.hpp"
#include "util/json_escape.hpp"
#include "util/json_minify.hpp"
#include "util/read_file.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

using namespace gatehouse::util;

TEST(Text, TrimRemovesSpacesAndTabsAtBothEndsOnly) {
    EXPECT_EQ(trim(" \t gzip ;q=1\t "), "gzip ;q=1");
    EXPECT_EQ(trim(" \t "), "");
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim("\r\nx"), "\r\nx");  // not whitespace in a field value's sense
}

TEST(Text, AsciiLowerTouchesOnlyAsciiLetters) {
    EXPECT_EQ(ascii_lower("X-Request-ID:Ab@[Z]"), "x-request-id:ab@[z]");
    EXPECT_EQ(ascii_lower("\xc3\x84"), "\xc3\x84");  // UTF-8 bytes stay as they are
    std::string out = "https://";
    append_ascii_lower(out, "Example.COM");
    EXPECT_EQ(out, "https://example.com");
}

TEST(Text, HostWithoutPortKeepsIpv6Literals) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"example.com:8080", "example.com"},
        {"example.com", "example.com"},
        {"[::1]:443", "[::1]"},
        {"[::1]", "[::1]"},
        {"host:", "host"},
        {"", ""},
    };
    for (auto [authority, host] : cases) EXPECT_EQ(host_without_port(authority), host) << authority;
}

TEST(Base64, StandardDecodingWantsPaddingAndOnlyTheAlphabet) {
    EXPECT_EQ(base64_decode("dXNlcjpwYXNz"), "user:pass");
    EXPECT_EQ(base64_decode("dXNlcjpwYXM="), "user:pas");
    EXPECT_EQ(base64_decode("dXNlcjpwYQ=="), "user:pa");
    EXPECT_EQ(base64_decode(""), "");
    // Unpadded, '=' inside, more padding than an encoding has, a space, base64url's alphabet.
    for (std::string_view bad : {"dXNlcjpwYQ", "dX=lcjpwYQ==", "dXNlcjpw====", " dXNlcjpwYQ==", "dXNl-jpw"})
        EXPECT_FALSE(base64_decode(bad)) << bad;
}

TEST(Base64, UrlDecodingIsStrict) {
    EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
    EXPECT_FALSE(base64url_decode("-_8="));
    EXPECT_FALSE(base64url_decode("+/8"));
}

TEST(JsonEscape, QuotesBackslashesControlsAndHighBytes) {
    std::string out = "\"";
    append_json_escaped(out, "a\"b\\c\n\x01\x7f\xc3\xa4");
    EXPECT_EQ(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00c3\\u00a4");
}

TEST(ReadFile, WholeFileOrNothing) {
    const std::string path = testing::TempDir() + "util_read_file.bin";
    const std::string content("line 1\r\n\0binary\n", 16);
    std::ofstream(path, std::ios::binary) << content;
    EXPECT_EQ(read_file(path), content);
    EXPECT_FALSE(read_file(path + ".missing"));
}

TEST(Time, NsOfIsNanosecondsSinceTheSteadyEpoch) {
    const std::chrono::steady_clock::time_point t{std::chrono::milliseconds(1500)};
    EXPECT_EQ(ns_of(t), 1'500'000'000);
}

TEST(JsonMinify, KeepsStringsAndDropsTheRest) {
    std::string out = "x";
    append_minified(out, "\xEF\xBB\xBF { \"a b\" : [ 1 , \"c \\\" d\" ] ,\n\t\"e\":null }\r\n");
    EXPECT_EQ(out, "x{\"a b\":[1,\"c \\\" d\"],\"e\":null}");
}
