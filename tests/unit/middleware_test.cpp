// The middleware contract's helpers: header value validation (SWAR, checked against the plain
// rule at every position) and the reusable added-fields list.
#include <gtest/gtest.h>

#include "gatehouse/middleware/middleware.hpp"

using namespace gatehouse;

namespace {
bool plain_rule(std::string_view v) {
    for (unsigned char c : v)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}
}  // namespace

TEST(HeaderValue, EveryByteAtEveryPositionAgreesWithThePlainRule) {
    for (std::size_t len : {1u, 7u, 8u, 9u, 16u, 23u}) {
        for (std::size_t pos = 0; pos < len; ++pos) {
            for (int b = 0; b < 256; ++b) {
                std::string v(len, 'a');
                v[pos] = static_cast<char>(b);
                ASSERT_EQ(middleware::valid_header_value(v), plain_rule(v)) << "len " << len << " pos " << pos << " byte " << b;
            }
        }
    }
    EXPECT_TRUE(middleware::valid_header_value(""));
    EXPECT_TRUE(middleware::valid_header_value("\x80\xff\xfe obs-text\tand tab"));
    EXPECT_FALSE(middleware::valid_header_value("a long value that ends in a line feed\n"));
}

TEST(AddedFields, ReuseSlotsAndRemoveKeepsOrder) {
    middleware::response_edit e;
    e.add.emplace_back("A", "1");
    e.add.emplace_back("B", "2");
    e.add.emplace_back("C", "3");
    e.add.remove_if([](auto& f) { return f.first == "B"; });
    ASSERT_EQ(e.add.size(), 2u);
    EXPECT_EQ(e.add.begin()[0].second, "1");
    EXPECT_EQ(e.add.begin()[1].first, "C");
    e.add.clear();
    EXPECT_TRUE(e.add.empty());
    auto& f = e.add.emplace_back("D");
    f.second += "filled in place";
    EXPECT_EQ(e.add.begin()->second, "filled in place");
}
