#include <gtest/gtest.h>

#include "gatehouse/router/path.hpp"

using gatehouse::router::normalize_host;
using gatehouse::router::normalize_path;

namespace {
std::string norm(std::string_view p) {
    std::string out;
    auto err = normalize_path(p, out);
    return err ? std::string("ERR: ") + err : out;
}
}  // namespace

TEST(Path, DecodesUnreservedEscapes) {
    EXPECT_EQ(norm("/%61dmin"), "/admin");
    EXPECT_EQ(norm("/a%7Eb"), "/a~b");
    EXPECT_EQ(norm("/a%20b"), "/a%20b");
    EXPECT_EQ(norm("/a%3fb"), "/a%3Fb");
}

TEST(Path, MergesSlashesAndRemovesDotSegments) {
    EXPECT_EQ(norm("//admin"), "/admin");
    EXPECT_EQ(norm("/./admin"), "/admin");
    EXPECT_EQ(norm("/x/../admin"), "/admin");
    EXPECT_EQ(norm("/admin/."), "/admin/");
    EXPECT_EQ(norm("/../../x"), "/x");
    EXPECT_EQ(norm("/a/b/../../../c"), "/c");
    EXPECT_EQ(norm("/a/b/.."), "/a/");
    EXPECT_EQ(norm("/"), "/");
    EXPECT_EQ(norm("/.."), "/");
    EXPECT_EQ(norm("/a/..b/c"), "/a/..b/c");
}

TEST(Path, LeavesANormalPathAsItIs) {
    EXPECT_EQ(norm("/grpc.testing.TestService/UnaryCall"), "/grpc.testing.TestService/UnaryCall");
    EXPECT_EQ(norm("/a/b/"), "/a/b/");
    EXPECT_EQ(norm("/a./b.."), "/a./b..");
    EXPECT_EQ(norm("/.well-known/x"), "/.well-known/x");
    EXPECT_EQ(norm("/a/.b/.."), "/a/");
    EXPECT_EQ(norm("/a/b//"), "/a/b/");
    EXPECT_EQ(norm("a/b").substr(0, 4), "ERR:");
}

TEST(Path, DecodedDotsAreRemovedOnceOnly) {
    EXPECT_EQ(norm("/a/%2e%2e/admin"), "/admin");
    EXPECT_EQ(norm("/a/%252e%252e/admin"), "/a/%252e%252e/admin");
}

TEST(Path, RejectsDangerousEscapes) {
    EXPECT_EQ(norm("/admin%2Fsecret").substr(0, 4), "ERR:");
    EXPECT_EQ(norm("/admin%2f").substr(0, 4), "ERR:");
    EXPECT_EQ(norm("/a%5Cb").substr(0, 4), "ERR:");
    EXPECT_EQ(norm("/a%00").substr(0, 4), "ERR:");
    EXPECT_EQ(norm("/foo%").substr(0, 4), "ERR:");
    EXPECT_EQ(norm("/foo%1").substr(0, 4), "ERR:");
    EXPECT_EQ(norm("/foo%zz").substr(0, 4), "ERR:");
}

TEST(Path, IsIdempotent) {
    // norm(norm(p)) == norm(p) and no "//", "/./", "/../" survive, over a small generated corpus.
    const char* parts[] = {"a", ".", "..", "", "%2e", "%2E%2E", "%61", "b%20c", "~"};
    std::vector<std::string> corpus{"/"};
    for (int depth = 0; depth < 4; ++depth) {
        std::vector<std::string> next;
        for (auto& c : corpus)
            for (auto* p : parts) next.push_back(c + (c.back() == '/' ? "" : "/") + p);
        corpus.insert(corpus.end(), next.begin(), next.end());
        if (corpus.size() > 5000) break;
    }
    for (auto& p : corpus) {
        auto once = norm(p);
        ASSERT_NE(once.substr(0, 4), "ERR:") << p;
        EXPECT_EQ(norm(once), once) << p;
        EXPECT_EQ(once.find("//"), std::string::npos) << p;
        EXPECT_EQ(once.find("/./"), std::string::npos) << p;
        EXPECT_EQ(once.find("/../"), std::string::npos) << p;
    }
}

TEST(Host, Normalisation) {
    std::string buf;
    EXPECT_EQ(normalize_host("API.Example.com.:8080", buf), "api.example.com");
    EXPECT_EQ(normalize_host("example.com", buf), "example.com");
    EXPECT_EQ(normalize_host("[::1]:80", buf), "[::1]");
}
