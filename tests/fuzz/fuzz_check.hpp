#pragma once
// What every fuzz target shares: a check that stops the run with a message (libFuzzer reports
// the abort with the input that caused it), and a reader that splits the input into pieces.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

namespace gatehouse::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// Takes bytes off the front of the input: small numbers that steer a target (split points,
// options), the rest is the payload.
struct input {
    std::string_view rest;
    std::uint8_t byte() {
        if (rest.empty()) return 0;
        auto b = static_cast<std::uint8_t>(rest.front());
        rest.remove_prefix(1);
        return b;
    }
};

// Two scans of the same head saw the same fields, in order (the heads' round-trip targets).
template <class Fields>
bool same_fields(const Fields& a, const Fields& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name || a[i].value != b[i].value) return false;
    return true;
}

}  // namespace gatehouse::fuzz
