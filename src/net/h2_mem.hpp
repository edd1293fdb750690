#pragma once
// libnghttp2's allocator for gatehouse's sessions (the clients' and the upstreams'): small blocks
// from a per-thread free list per size class instead of malloc and free. A session allocates
// some 8 blocks per stream (the stream, its outbound items, a header list, HPACK entries) and
// frees them when the stream closes; with hundreds of streams in flight on a worker these miss
// malloc's per-thread cache. Each worker is one thread and its sessions live on it; a block freed
// on another thread (shutdown) goes to that thread's list, which is correct too.
#include <nghttp2/nghttp2.h>

namespace gatehouse::net {

nghttp2_mem* h2_mem();

}  // namespace gatehouse::net
