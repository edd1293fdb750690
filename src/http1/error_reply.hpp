#pragma once
// Responses gatehouse writes itself: errors in one stable JSON shape
// {"error": "...", "status": N, "request_id": "..."}, and direct responses.
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::http1 {

std::string_view reason_phrase(int status);

// How the head of a response gatehouse writes itself ends: the connection closes after it
// (Connection: close), stays open, or stays open for an HTTP/1.0 client, which must be told so
// (Connection: keep-alive) or it waits for the close (RFC 9112 §9.3).
enum class persistence { close, keep, keep_announced };
inline persistence persistence_for(bool close, int version) {
    return close ? persistence::close : version == 10 ? persistence::keep_announced : persistence::keep;
}
// The end of the last field line, the Connection field `p` needs, and the empty line.
std::string_view head_end(persistence p);

// Appends a complete response (head and body) to `out`.
using header_list = std::span<const std::pair<std::string, std::string>>;
void append_error_response(std::string& out, int status, std::string_view message, std::string_view request_id, persistence p,
                           bool head_only, header_list extra = {});

// The JSON string escaper, kept here for http/ callers: util::append_json_escaped (src/util/json_escape.hpp).
void append_json_escaped(std::string& out, std::string_view s);

// "HTTP/1.1 <status> <reason>" (no line end).
void append_status_line(std::string& out, int status);

}  // namespace gatehouse::http1
