#pragma once
// Small blocks from a per-thread free list per size class instead of malloc and free, for what a
// worker allocates and frees per request by the hundred while hundreds of requests are in flight
// (then malloc's per-thread cache misses): libnghttp2's blocks (net/h2_mem.hpp) and Asio's
// coroutine frames (net/frame_pool.hpp). Each worker is one thread and its requests live on it; a
// block freed on another thread (shutdown) goes to that thread's list, which is correct too.
// Blocks are 16-byte aligned.
#include <cstddef>

namespace gatehouse::net {

// nullptr when malloc fails.
void* pool_alloc(std::size_t n) noexcept;
// p from pool_alloc or pool_realloc, or nullptr.
void pool_free(void* p) noexcept;
// realloc's contract: the bytes kept up to the smaller size; nullptr (p untouched) on failure.
void* pool_realloc(void* p, std::size_t n) noexcept;

}  // namespace gatehouse::net
