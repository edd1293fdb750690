#pragma once
// Responses gatehouse writes itself: errors in one stable JSON shape
// {"error": "...", "status": N, "request_id": "..."}, and direct responses.
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::http {

std::string_view reason_phrase(int status);

// Appends a complete response (head and body) to `out`.
using header_list = std::span<const std::pair<std::string, std::string>>;
void append_error_response(std::string& out, int status, std::string_view message, std::string_view request_id, bool close,
                           bool head_only, header_list extra = {});

void append_json_escaped(std::string& out, std::string_view s);

// "HTTP/1.1 <status> <reason>" (no line end).
void append_status_line(std::string& out, int status);

}  // namespace gatehouse::http
