#include "net/h2_mem.hpp"

#include "net/block_pool.hpp"

#include <cstddef>
#include <cstring>

namespace gatehouse::net {
namespace {

void* block_alloc(std::size_t n, void*) { return pool_alloc(n); }

void block_free(void* p, void*) { pool_free(p); }

void* block_calloc(std::size_t nmemb, std::size_t size, void*) {
    if (size != 0 && nmemb > static_cast<std::size_t>(-1) / size) return nullptr;
    void* p = pool_alloc(nmemb * size);
    if (p) std::memset(p, 0, nmemb * size);
    return p;
}

void* block_realloc(void* p, std::size_t n, void*) { return pool_realloc(p, n); }

nghttp2_mem g_mem{nullptr, block_alloc, block_free, block_calloc, block_realloc};

}  // namespace

nghttp2_mem* h2_mem() { return &g_mem; }

}  // namespace gatehouse::net
