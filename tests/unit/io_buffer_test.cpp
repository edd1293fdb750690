// net::io_buffer: the connection's read buffer (grows to a cap, compacts, releases while idle).
#include <gtest/gtest.h>

#include <cstring>

#include "net/io_buffer.hpp"

using gatehouse::net::io_buffer;

namespace {
void put(io_buffer& b, std::string_view s) {
    auto [p, room] = b.prepare(s.size());
    ASSERT_GE(room, s.size());
    std::memcpy(p, s.data(), s.size());
    b.commit(s.size());
}
}  // namespace

TEST(IoBuffer, GrowsKeepsBytesAndStopsAtItsCap) {
    io_buffer b(16, 64);
    put(b, "hello ");
    put(b, std::string(20, 'x'));
    EXPECT_EQ(b.data(), "hello " + std::string(20, 'x'));
    EXPECT_GE(b.capacity(), 26u);
    put(b, std::string(38, 'y'));
    EXPECT_EQ(b.size(), 64u);
    EXPECT_TRUE(b.full());
    auto [p, room] = b.prepare(1);
    EXPECT_EQ(room, 0u);  // at the cap: the caller answers 431
    (void)p;
}

TEST(IoBuffer, ConsumeCompactsInsteadOfGrowing) {
    io_buffer b(32, 32);
    put(b, std::string(30, 'a'));
    b.consume(28);
    EXPECT_EQ(b.data(), "aa");
    put(b, std::string(30, 'b'));  // moved to the front: fits without growing past the cap
    EXPECT_EQ(b.data(), "aa" + std::string(30, 'b'));
    EXPECT_EQ(b.capacity(), 32u);
    b.consume(b.size());
    EXPECT_TRUE(b.empty());
}

TEST(IoBuffer, ReleaseOnlyWhenEmptyAndAllocatesAgainOnUse) {
    io_buffer b(16384, 65536);
    put(b, "GET");
    b.release();  // not empty: kept
    EXPECT_EQ(b.data(), "GET");
    b.consume(3);
    b.release();
    EXPECT_EQ(b.capacity(), 0u);
    EXPECT_TRUE(b.empty());
    put(b, "next request");
    EXPECT_EQ(b.data(), "next request");
    EXPECT_GE(b.capacity(), 12u);
}
