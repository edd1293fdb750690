// net/frame_pool.hpp: Asio's coroutine frames come from net/block_pool.hpp's free lists (a frame
// given back is the next block of its size class), and coroutines on them run and nest.
#include "net/asio_patch.hpp"
#include "net/block_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

namespace {

namespace asio = boost::asio;
using asio::detail::thread_info_base;

TEST(FramePool, AFrameIsABlockOfThePool) {
    if (!gatehouse::net::asio_patched || !GATEHOUSE_FRAME_POOL) GTEST_SKIP() << "Asio's own frame cache on this build";
    // Without a thread context Asio's own cache would hand out and free a fresh aligned block.
    void* frame = thread_info_base::allocate(thread_info_base::awaitable_frame_tag(), nullptr, 300);
    thread_info_base::deallocate(thread_info_base::awaitable_frame_tag(), nullptr, frame, 300);
    void* block = gatehouse::net::pool_alloc(300);
    EXPECT_EQ(block, frame);  // the 320-byte class's free list gave it back
    gatehouse::net::pool_free(block);
}

asio::awaitable<int> leaf(int depth) {
    co_await asio::post(asio::use_awaitable);  // suspends: the frame outlives a trip through the loop
    co_return depth;
}

asio::awaitable<int> nest(int depth) {
    if (depth == 0) co_return co_await leaf(0);
    const int below = co_await nest(depth - 1);
    co_return below + depth;
}

asio::awaitable<void> run_nested(int* sum) {
    const int got = co_await nest(20);
    *sum += got;
}

TEST(FramePool, NestedCoroutinesRunOnIt) {
    asio::io_context io;
    int sum = 0;
    for (int i = 0; i < 200; ++i) asio::co_spawn(io, run_nested(&sum), asio::detached);  // interleaved frames
    io.run();
    EXPECT_EQ(sum, 200 * (20 * 21 / 2));
}

}  // namespace
