#pragma once
// The inside of a JSON string, for text gatehouse writes by hand (error bodies, access log lines).
#include <string>
#include <string_view>

namespace gatehouse::util {

// Appends `s` escaped for use between the quotes of a JSON string: '"' and '\' get a backslash,
// control characters and every byte from 0x7f up are written as \u00XX, so the result is plain
// ASCII whatever the input (a header value need not be UTF-8) and a log line stays one line.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace gatehouse::util
