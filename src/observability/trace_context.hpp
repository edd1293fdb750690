#pragma once
// W3C Trace Context (traceparent): parse what the client sent, or start a trace; every request
// sent upstream carries a fresh parent (span) id.
#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::observability {

struct trace_context {
    char trace_id[32];
    char parent_id[16];
    std::uint8_t flags = 0;
};

// Strict for version 00 ("00-<32 hex>-<16 hex>-<2 hex>", all lower-case, ids not all zero);
// later versions are read by their first four fields, as the spec asks. Version ff is invalid.
bool parse_traceparent(std::string_view v, trace_context& out);

// The 16 nibbles of r as 16 lower-case hex digits (in an order of its own: for random ids).
void hex16(std::uint64_t r, char* out);
// Fills `hex` (n lower-case hex digits) from random numbers; never all zeros.
void random_hex(char* hex, std::size_t n, std::uint64_t (*next)(void*), void* state);

void append_traceparent(std::string& out, const char (&trace_id)[32], const char (&span_id)[16], std::uint8_t flags);

}  // namespace gatehouse::observability
