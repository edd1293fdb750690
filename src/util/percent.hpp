#pragma once
// Percent-encoding's decoding (RFC 3986 §2.1), in the two strictnesses the code base needs.
#include <string>
#include <string_view>

namespace gatehouse::util {

// A hex digit's value (either case), -1 for anything else.
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX decoded; a '%' without two hex digits after it stays as it is (query values a reference
// reads, JSON pointers in a spec's $ref fragments, OpenAPI parameters).
std::string percent_decoded(std::string_view s);

// %XX decoded strictly: a '%' without two hex digits is an error (false). keep_slash leaves %2F
// as it is (a path variable that must stay one segment); plus_is_space reads '+' as a space
// (application/x-www-form-urlencoded query strings).
bool percent_decode(std::string_view in, bool keep_slash, bool plus_is_space, std::string& out);

}  // namespace gatehouse::util
