#pragma once
// Which header fields HPACK must never index, on either side (client answers, upstream
// requests): values unique to each message, gatehouse's request id and a trace context. Indexed,
// they fill the dynamic table with entries of one name, which every later lookup compares, and
// evict the repeated fields the table is for.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string_view>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::net {

// The nghttp2_nv flag for a field of this name (any case).
inline std::uint8_t index_flag(std::string_view name) {
    const bool unique = (name.size() == 12 && http::iequals(name, "x-request-id")) || (name.size() == 11 && http::iequals(name, "traceparent"));
    return unique ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
}

}  // namespace gatehouse::net
