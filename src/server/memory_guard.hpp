#pragma once
// limits.max_memory: the control thread samples the process's resident memory (4 times a
// second, /proc/self/statm) and raises this flag above the limit; while it is up, workers
// answer new requests 503 (requests in flight finish) instead of the process growing into the
// OOM killer. One relaxed load per request; the flag changes at most a few times a second.
#include <atomic>
#include <cstdint>

namespace gatehouse::server {

struct memory_guard {
    std::atomic<bool> over{false};
    std::atomic<std::uint64_t> rejected{0};  // requests answered 503 because of it
    std::atomic<std::uint64_t> resident{0};  // bytes, last sample
};

inline memory_guard& memory() {
    static memory_guard g;
    return g;
}

// Resident set size of this process in bytes (0 if unknown).
std::uint64_t resident_bytes();

// Gives the pages of malloc's free chunks back to the system (malloc_trim) when the free part of
// the heap and the resident memory beyond the bytes in use (compared with right after the last
// trim) both grew past 512 KiB and a sixteenth of the bytes in use; the control thread calls it
// every 10 s. Without
// it, the pages freed chunks once touched stay resident: under changing connection counts the
// process's resident memory crept up while the bytes in use stayed flat (docs/benchmarks.md,
// Soak). Returns the bytes that were free (0: nothing done).
std::uint64_t release_free_heap();

}  // namespace gatehouse::server
