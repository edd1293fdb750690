#pragma once
// libnghttp2's allocator for gatehouse's sessions (the clients' and the upstreams'): blocks from
// net/block_pool.hpp's per-thread free lists instead of malloc and free. A session allocates
// some 8 blocks per stream (the stream, its outbound items, a header list, HPACK entries) and
// frees them when the stream closes; with hundreds of streams in flight on a worker these miss
// malloc's per-thread cache.
#include <nghttp2/nghttp2.h>

#include "net/block_pool.hpp"

#include <cstddef>
#include <new>

namespace gatehouse::net {

nghttp2_mem* h2_mem();

// The same free lists as a standard allocator (the control blocks of the upstream's pooled
// streams: upstream/h2_connection.cpp).
template <class T>
struct h2_allocator {
    using value_type = T;
    h2_allocator() = default;
    template <class U>
    h2_allocator(const h2_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) {
        if (void* p = pool_alloc(n * sizeof(T))) return static_cast<T*>(p);
        throw std::bad_alloc();
    }
    void deallocate(T* p, std::size_t) noexcept { pool_free(p); }
    template <class U>
    bool operator==(const h2_allocator<U>&) const noexcept { return true; }
};

}  // namespace gatehouse::net
