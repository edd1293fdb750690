#include "grpc/timeout.hpp"

#include <cstdint>

namespace gatehouse::grpc {

std::optional<std::chrono::milliseconds> parse_timeout(std::string_view v) {
    if (v.size() < 2 || v.size() > 9) return std::nullopt;
    const char unit = v.back();
    v.remove_suffix(1);
    std::int64_t n = 0;
    for (char ch : v) {
        if (ch < '0' || ch > '9') return std::nullopt;
        n = n * 10 + (ch - '0');
    }
    // Nanoseconds of the largest value (99999999 H) overflow 64 bits, so each unit converts to
    // milliseconds on its own, rounding up.
    std::int64_t ms = 0;
    switch (unit) {
        case 'H': ms = n * 3'600'000; break;
        case 'M': ms = n * 60'000; break;
        case 'S': ms = n * 1000; break;
        case 'm': ms = n; break;
        case 'u': ms = (n + 999) / 1000; break;
        case 'n': ms = (n + 999'999) / 1'000'000; break;
        default: return std::nullopt;
    }
    if (ms == 0) ms = 1;
    return std::chrono::milliseconds{ms};
}

}  // namespace gatehouse::grpc
