#pragma once
// The `{...}` references of a composition's call templates: parsing them at load
// ("user.addresses[0].city", "path.id", "query.x", "header.x-tenant", "claim.sub", "item.id"),
// reading what they name at run time, and writing the value into a path safely (percent-encoded,
// so it cannot add a '/' or make a '..' segment).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "compose/compose_config.hpp"

namespace gatehouse::compose {

// "a.b[0].c" -> steps; nullopt and `error` when malformed.
std::optional<json_path> parse_json_path(std::string_view text, std::string& error);
// The inside of one `{...}`.
std::optional<reference> parse_reference(std::string_view text, std::string& error);
// Literal text with `{...}` references; `{{` and `}}` are not supported (a literal brace is an error).
std::optional<text_template> parse_template(std::string_view text, std::string& error);

// The value at `steps` in `root` (null when absent).
const nlohmann::json* find(const nlohmann::json& root, const json_path& steps);

// A scalar as it goes into text (strings as they are, numbers and booleans as JSON writes them);
// nullopt for null, objects and arrays.
std::optional<std::string> scalar_text(const nlohmann::json& v);

// Appends `value` percent-encoded as one path segment or query value: only unreserved
// characters stay, so '/', '?', '&', '#', '%' and '..' (as "%2E%2E") cannot change the request.
void append_encoded(std::string& out, std::string_view value);


}  // namespace gatehouse::compose
