// release_free_heap (server/memory_guard.hpp): the pages of malloc's free chunks go back to the
// system, and nothing happens while the free part of the heap is small.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "server/memory_guard.hpp"

using gatehouse::server::release_free_heap;
using gatehouse::server::resident_bytes;

TEST(Memory, FreedPagesGoBackToTheSystem) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "the sanitizer's allocator replaces malloc's";
#else
    release_free_heap();  // whatever earlier tests left; the excess after it is the reference
    // 16 MiB in 32 KiB blocks (under malloc's mmap threshold: from the heap), touched, then every
    // other one freed: 8 MiB of holes that cannot merge into the heap's top and stay resident.
    constexpr std::size_t block = 32 * 1024, count = 512;
    std::vector<char*> blocks;
    for (std::size_t i = 0; i < count; ++i) {
        auto* p = static_cast<char*>(std::malloc(block));
        ASSERT_NE(p, nullptr);
        std::memset(p, 1, block);
        blocks.push_back(p);
    }
    for (std::size_t i = 0; i < count; i += 2) std::free(blocks[i]);
    const auto before = resident_bytes();
    const auto freed = release_free_heap();
    const auto after = resident_bytes();
    EXPECT_GE(freed, count / 2 * block);
    EXPECT_LE(after + 6 * 1024 * 1024, before) << "resident " << before << " -> " << after;
    for (std::size_t i = 1; i < count; i += 2) std::free(blocks[i]);
#endif
}

TEST(Memory, ASmallFreePartIsLeftAlone) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "the sanitizer's allocator replaces malloc's";
#else
    release_free_heap();
    auto* p = static_cast<char*>(std::malloc(64 * 1024));
    std::memset(p, 1, 64 * 1024);
    auto* q = static_cast<char*>(std::malloc(64));
    std::free(p);  // 64 KiB free, under the 512 KiB floor
    EXPECT_EQ(release_free_heap(), 0u);
    std::free(q);
#endif
}
