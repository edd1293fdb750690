#pragma once
// The status page's files (src/admin/status/), as CMake writes them into the binary
// (src/admin/status/embed.cmake generates the definitions at build time).
#include <string_view>

namespace gatehouse::admin {

extern const std::string_view k_status_html;
extern const std::string_view k_status_js;
extern const std::string_view k_status_css;

}  // namespace gatehouse::admin
