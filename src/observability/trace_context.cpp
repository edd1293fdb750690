#include "observability/trace_context.hpp"

#include <cstring>

namespace gatehouse::observability {

namespace {
bool lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}
bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }
int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }
}  // namespace

bool parse_traceparent(std::string_view v, trace_context& out) {
    if (v.size() < 55) return false;
    auto version = v.substr(0, 2);
    if (!lower_hex(version) || version == "ff") return false;
    if (version == "00" && v.size() != 55) return false;
    if (v.size() > 55 && v[55] != '-') return false;  // future versions: more fields after a dash
    if (v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
    auto trace = v.substr(3, 32), parent = v.substr(36, 16), flags = v.substr(53, 2);
    if (!lower_hex(trace) || !lower_hex(parent) || !lower_hex(flags) || all_zero(trace) || all_zero(parent)) return false;
    std::memcpy(out.trace_id, trace.data(), 32);
    std::memcpy(out.parent_id, parent.data(), 16);
    out.flags = static_cast<std::uint8_t>(hex_value(flags[0]) * 16 + hex_value(flags[1]));
    return true;
}

void hex16(std::uint64_t r, char* out) {
    for (int half = 0; half < 2; ++half) {
        // The eight nibbles of one half, one per byte (lowest nibble first), then each 0..15 to
        // '0'..'9' or 'a'..'f': eight digits with a few word operations instead of a loop of
        // table lookups (callgrind: ~13 instructions a digit before, ~2 now).
        std::uint64_t x = (r >> (32 * half)) & 0xffffffffULL;
        x = (x | (x << 16)) & 0x0000ffff0000ffffULL;
        x = (x | (x << 8)) & 0x00ff00ff00ff00ffULL;
        x = (x | (x << 4)) & 0x0f0f0f0f0f0f0f0fULL;
        const std::uint64_t above9 = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
        x += 0x3030303030303030ULL + above9 * static_cast<std::uint64_t>('a' - '0' - 10);
        std::memcpy(out + 8 * half, &x, 8);
    }
}

void random_hex(char* hex, std::size_t n, std::uint64_t (*next)(void*), void* state) {
    static constexpr char digits[] = "0123456789abcdef";
    for (;;) {
        bool nonzero = false;
        std::size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const auto r = next(state);
            hex16(r, hex + i);
            nonzero = nonzero || r != 0;
        }
        for (auto r = i < n ? next(state) : 0; i < n; ++i, r >>= 4) {
            hex[i] = digits[r & 15];
            nonzero = nonzero || (r & 15);
        }
        if (nonzero) return;
    }
}

void append_traceparent(std::string& out, const char (&trace_id)[32], const char (&span_id)[16], std::uint8_t flags) {
    static constexpr char digits[] = "0123456789abcdef";
    out += "00-";
    out.append(trace_id, 32);
    out += '-';
    out.append(span_id, 16);
    out += '-';
    out += digits[flags >> 4];
    out += digits[flags & 15];
}

}  // namespace gatehouse::observability
