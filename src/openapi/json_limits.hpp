#pragma once
// Parsing a document a client sent, with its nesting depth checked before the parser (which
// recurses once per level) sees it: a body of 100,000 '[' is refused after one pass over its
// bytes, without a deep stack or a deep tree.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace gatehouse::openapi {

enum class json_refusal { none, too_deep, syntax };

// The deepest nesting of arrays and objects in `text` (strings skipped), stopping as soon as it
// passes `limit` (then limit + 1).
std::size_t json_depth(std::string_view text, std::size_t limit);

// `text` parsed, or nothing with the reason: nested deeper than `max_depth`, or not JSON.
std::optional<nlohmann::json> parse_bounded(std::string_view text, std::size_t max_depth, json_refusal& why);

}  // namespace gatehouse::openapi
