#pragma once
// GET /status on the admin listener: the status page. Its HTML, script and style sheet
// (src/admin/status/) are built into the binary and served as three paths, so that a strict
// Content-Security-Policy (no inline script or style, nothing from elsewhere) covers them. They
// hold no data: the script fetches the admin JSON, with the bearer token when admin.auth is set,
// which is why these three answer without one (docs/operations.md, "The status page").
#include <optional>
#include <string_view>

#include "admin/admin_server.hpp"

namespace gatehouse::admin {

inline constexpr std::string_view k_status_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'";

// The answer for /status, /status.js or /status.css (405 for another method than GET or HEAD);
// nullopt for any other path.
std::optional<admin_response> status_page_answer(std::string_view method, std::string_view path);

}  // namespace gatehouse::admin
