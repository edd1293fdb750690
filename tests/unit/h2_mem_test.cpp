// net/h2_mem.hpp: libnghttp2's pooled allocator keeps the bytes through realloc across size
// classes, zeroes calloc's blocks, hands a freed block of a class out again, and serves a real
// session (a request submitted and serialised, the session deleted).
#include "net/h2_mem.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

namespace {

using gatehouse::net::h2_mem;

TEST(H2Mem, ReallocKeepsTheBytesAcrossClasses) {
    auto* m = h2_mem();
    auto* p = static_cast<char*>(m->malloc(10, m->mem_user_data));
    std::memcpy(p, "0123456789", 10);
    for (std::size_t n : {16, 200, 700, 5000, 100000, 3000, 40}) {
        p = static_cast<char*>(m->realloc(p, n, m->mem_user_data));
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(std::string(p, 10), "0123456789") << n;
    }
    m->free(p, m->mem_user_data);
    m->free(nullptr, m->mem_user_data);
}

TEST(H2Mem, CallocZeroesARecycledBlock) {
    auto* m = h2_mem();
    auto* p = static_cast<unsigned char*>(m->malloc(100, m->mem_user_data));
    std::memset(p, 0xab, 100);
    m->free(p, m->mem_user_data);
    auto* q = static_cast<unsigned char*>(m->calloc(10, 10, m->mem_user_data));
    EXPECT_EQ(q, p);  // the class's free list gave it back
    for (int i = 0; i < 100; ++i) ASSERT_EQ(q[i], 0) << i;
    m->free(q, m->mem_user_data);
    EXPECT_EQ(m->calloc(static_cast<std::size_t>(-1) / 2, 4, m->mem_user_data), nullptr);  // overflow
}

TEST(H2Mem, BlocksFreedOnAnotherThread) {
    auto* m = h2_mem();
    void* p = m->malloc(64, m->mem_user_data);
    std::thread([&] { m->free(p, m->mem_user_data); }).join();  // that thread's list, drained at its exit
}

TEST(H2Mem, ASessionRunsOnIt) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session* s = nullptr;
    ASSERT_EQ(nghttp2_session_client_new3(&s, cb, nullptr, nullptr, h2_mem()), 0);
    nghttp2_session_callbacks_del(cb);
    std::string name = ":method", get = "GET", path = ":path", slash = "/x", scheme = ":scheme", http = "http",
                auth = ":authority", host = "a";
    auto nv = [](std::string& n, std::string& v) {
        return nghttp2_nv{reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                          v.size(), NGHTTP2_NV_FLAG_NONE};
    };
    nghttp2_nv head[] = {nv(name, get), nv(scheme, http), nv(auth, host), nv(path, slash)};
    for (int i = 0; i < 50; ++i) ASSERT_GT(nghttp2_submit_request(s, nullptr, head, 4, nullptr, nullptr), 0);
    std::size_t out = 0;
    for (;;) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(s, &data);
        ASSERT_GE(n, 0);
        if (n == 0) break;
        out += static_cast<std::size_t>(n);
    }
    EXPECT_GT(out, 24u + 50u * 9u);  // the preface, SETTINGS and 50 HEADERS frames
    nghttp2_session_del(s);
}

}  // namespace
