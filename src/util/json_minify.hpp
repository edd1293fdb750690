#pragma once
// A JSON document without what does not change its value between tokens: a byte order mark and
// the whitespace around tokens (strings copied as they are). For a document passed on inside
// another one (a composition call's answer spliced into the merged answer).
#include <string>
#include <string_view>

namespace gatehouse::util {

// `valid` (a document a JSON parser accepted) minified, appended to `out`.
void append_minified(std::string& out, std::string_view valid);

}  // namespace gatehouse::util
