#pragma once
// The strict HTTP/1.1 head scanner: every request and response head passes here before any
// byte of it is routed or forwarded (DESIGN.md §6). It works on the raw bytes, so it sees what
// Beast's parser hides (obs-fold, duplicate Host, field counts, TE lists) and it allocates
// nothing once the field vector has grown: field views point into the connection's buffer.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::http1 {

// The HTTP/1 codec works in terms of the protocol-neutral fields and host interface of http/.
using namespace gatehouse::http;

// A field as the scanner found it: the field, and its whole line as received (CRLF included),
// which the HTTP/1 writer copies when the field passes unchanged. Empty for fields from
// elsewhere (added by gatehouse, from a stored response).
struct field_view : field {
    std::string_view line = {};
};

enum class body_framing : std::uint8_t { none, content_length, chunked, until_close };

struct scan_limits {
    std::size_t max_headers = 100;
    std::size_t max_request_line = 8192;
};

struct request_head {
    std::string_view method;
    std::string_view target;  // as received
    std::string_view path;    // origin-form path (from an absolute-form target too), undecoded
    std::string_view query;   // without '?', empty when absent
    bool has_query = false;
    bool asterisk = false;  // OPTIONS *
    int version = 11;       // 10 or 11
    std::vector<field_view> fields;
    std::string_view host;  // the Host value (validated)
    body_framing framing = body_framing::none;
    std::uint64_t content_length = 0;
    bool keep_alive = true;
    bool expect_continue = false;
    std::string_view connection;  // raw Connection value, for the hop-by-hop list
};

struct response_head {
    int status = 0;
    int version = 11;
    std::string_view reason;
    std::vector<field_view> fields;
    body_framing framing = body_framing::until_close;
    std::uint64_t content_length = 0;
    bool has_content_length = false;
    bool keep_alive = true;
    std::string_view connection;
};

// Why a head was refused: the status to answer with and a short reason for the error body.
struct scan_error {
    int status = 0;  // 0 = no error
    const char* reason = "";
    explicit operator bool() const { return status != 0; }
};

// Offset just past the CRLFCRLF that ends the head, or npos. `from` lets a caller resume.
std::size_t find_head_end(std::string_view buf, std::size_t from);

// Scans a complete request head (ending in CRLFCRLF) into `out`.
scan_error scan_request(std::string_view head, const scan_limits& limits, request_head& out);

// Scans a complete response head. `request_method_head` makes the body empty whatever it says.
scan_error scan_response(std::string_view head, const scan_limits& limits, bool request_method_head, response_head& out);

}  // namespace gatehouse::http1
