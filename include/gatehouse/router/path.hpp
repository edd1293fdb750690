#pragma once
// Request-target normalisation, done once before routing so that routing, authorisation and
// the forwarded request all see the same path (HTTP-EDGE-CASES.md §D).
#include <string>
#include <string_view>

namespace gatehouse::router {

// Decodes %XX escapes of unreserved characters, upper-cases the hex of the others, merges
// repeated slashes and removes dot segments (clamping at the root). Rejects broken escapes,
// escaped '/', '\' and NUL. Returns nullptr on success (result in `out`), or the reason.
const char* normalize_path(std::string_view raw, std::string& out);

// Lower-cases the host and drops the port and a trailing dot: "API.Example.com.:8080" -> "api.example.com".
std::string_view normalize_host(std::string_view host, std::string& buf);

}  // namespace gatehouse::router
