#include "net/block_pool.hpp"

#include <array>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace gatehouse::net {
namespace {

// A block is a 16-byte header (its class, so that free needs no size) and the caller's bytes.
// Classes: 16-byte steps to 256, then powers of two to 4 KiB; larger blocks go to malloc.
constexpr std::size_t k_header = 16;
constexpr std::size_t k_steps = 16, k_large = 4;  // 16..256 by 16; 512..4096
constexpr std::size_t k_classes = k_steps + k_large;
constexpr std::size_t k_unpooled = k_classes;
constexpr std::size_t k_keep = 1024;  // free blocks kept per class and thread

constexpr std::size_t class_of(std::size_t n) {
    if (n <= 256) return n == 0 ? 0 : (n - 1) / 16;
    if (n <= 512) return k_steps;
    if (n <= 1024) return k_steps + 1;
    if (n <= 2048) return k_steps + 2;
    if (n <= 4096) return k_steps + 3;
    return k_unpooled;
}

constexpr std::size_t class_size(std::size_t c) { return c < k_steps ? (c + 1) * 16 : std::size_t{512} << (c - k_steps); }

struct free_block {
    free_block* next;
};

struct lists {
    std::array<free_block*, k_classes> head{};
    std::array<std::size_t, k_classes> count{};
};

// Trivially destructible (usable in any thread_local destructor order); the guard below gives
// the cached blocks back when the thread ends and sends later frees straight to free().
thread_local lists t_lists;
thread_local bool t_gone = false;

struct drain_at_exit {
    ~drain_at_exit() {
        t_gone = true;
        for (auto& h : t_lists.head)
            while (h) std::free(reinterpret_cast<unsigned char*>(std::exchange(h, h->next)) - k_header);
    }
};
thread_local drain_at_exit t_drain;

std::size_t class_at(void* p) {
    std::size_t c;
    std::memcpy(&c, static_cast<unsigned char*>(p) - k_header, sizeof c);
    return c;
}

}  // namespace

void* pool_alloc(std::size_t n) noexcept {
    const auto c = class_of(n);
    if (c != k_unpooled) {
        (void)&t_drain;  // constructed with the thread's first block, so it drains at exit
        if (auto* b = t_lists.head[c]) {
            t_lists.head[c] = b->next;
            --t_lists.count[c];
            return b;
        }
    }
    auto* raw = static_cast<unsigned char*>(std::malloc(k_header + (c == k_unpooled ? n : class_size(c))));
    if (!raw) return nullptr;
    std::memcpy(raw, &c, sizeof c);
    return raw + k_header;
}

void pool_free(void* p) noexcept {
    if (!p) return;
    const auto c = class_at(p);
    if (c == k_unpooled || t_gone || t_lists.count[c] >= k_keep) return std::free(static_cast<unsigned char*>(p) - k_header);
    (void)&t_drain;  // a thread that only frees (blocks from another thread) drains its list at exit too
    auto* b = static_cast<free_block*>(p);
    b->next = t_lists.head[c];
    t_lists.head[c] = b;
    ++t_lists.count[c];
}

void* pool_realloc(void* p, std::size_t n) noexcept {
    if (!p) return pool_alloc(n);
    const auto c = class_at(p);
    if (c != k_unpooled && n <= class_size(c)) return p;
    if (c == k_unpooled && class_of(n) == k_unpooled) {
        auto* raw = static_cast<unsigned char*>(std::realloc(static_cast<unsigned char*>(p) - k_header, k_header + n));
        return raw ? raw + k_header : nullptr;
    }
    void* q = pool_alloc(n);
    if (!q) return nullptr;
    // The old block's usable size is its class's; an unpooled one here only shrinks into a class.
    std::memcpy(q, p, c != k_unpooled ? class_size(c) : n);
    pool_free(p);
    return q;
}

}  // namespace gatehouse::net
