#pragma once
// Asio's coroutine frames (every awaitable call) from net/block_pool.hpp's per-thread size-class
// free lists instead of Asio's recycling cache. That cache (detail/thread_info_base.hpp) is a
// handful of slots per purpose, searched linearly for a block big enough, which evicts one and
// calls aligned_alloc when none fits: a request lives in some 14 frames of 128-784 bytes, and with
// a hundred requests in flight per worker nearly every frame missed it (callgrind, gRPC unary
// calls: 13.7 aligned allocations per call). A larger cache would search longer and still mix the
// sizes; a free list per size class takes and gives back a block in a few instructions.
//
// Asio allocates a frame with thread_info_base::allocate(awaitable_frame_tag, ...) and frees it
// with deallocate(awaitable_frame_tag, ...) (impl/awaitable.hpp, awaitable_frame_base); this
// header specialises those two member templates for that tag. Every translation unit must see the
// specialisations before its first coroutine (a frame allocated by one and freed by the other
// would be freed into the wrong allocator), so CMakeLists.txt force-includes this header
// (-include) into everything that links gatehouse_asio. It reaches into Asio's private internals,
// so only against the Boost it was written for (GATEHOUSE_ASIO_PATCHED, net/asio_patch.hpp);
// elsewhere the frames use Asio's own cache, as they do in the sanitizer build (CMakeLists.txt:
// GATEHOUSE_FRAME_POOL=0, so that AddressSanitizer sees each frame's lifetime).
#if defined(__cplusplus) && GATEHOUSE_ASIO_PATCHED && GATEHOUSE_FRAME_POOL
#include <boost/asio/detail/thread_info_base.hpp>
#include <boost/version.hpp>

#include <cstddef>
#include <new>

static_assert(BOOST_VERSION == 108100, "net/frame_pool.hpp specialises Asio 1.81's thread_info_base");
static_assert(BOOST_ASIO_DEFAULT_ALIGN <= 16, "frames are allocated with the default alignment; the pool's is 16");

namespace gatehouse::net {
void* pool_alloc(std::size_t n) noexcept;
void pool_free(void* p) noexcept;
}  // namespace gatehouse::net

namespace boost::asio::detail {

// awaitable_frame_base's operator new passes the default alignment, which the pool's blocks meet.
template <>
inline void* thread_info_base::allocate<thread_info_base::awaitable_frame_tag>(thread_info_base::awaitable_frame_tag,
                                                                                thread_info_base*, std::size_t size,
                                                                                std::size_t) {
    if (void* p = gatehouse::net::pool_alloc(size)) return p;
    throw std::bad_alloc();
}

template <>
inline void thread_info_base::deallocate<thread_info_base::awaitable_frame_tag>(thread_info_base::awaitable_frame_tag,
                                                                                 thread_info_base*, void* pointer,
                                                                                 std::size_t) {
    gatehouse::net::pool_free(pointer);
}

}  // namespace boost::asio::detail
#endif
