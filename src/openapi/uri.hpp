#pragma once
// URI references as JSON Schema's $id and $ref use them (RFC 3986 §5.2): enough to resolve a
// reference against a base and to split off the fragment. No normalisation beyond dot segments.
#include <string>
#include <string_view>

namespace gatehouse::openapi {

// `ref` resolved against the absolute `base`.
std::string resolve_uri(std::string_view base, std::string_view ref);

// The URI without its fragment, and the fragment (without '#'; empty when there is none).
std::pair<std::string_view, std::string_view> split_fragment(std::string_view uri);

// A JSON pointer's reference token for `name` ('~' as "~0", '/' as "~1").
std::string escape_pointer_token(std::string_view name);

}  // namespace gatehouse::openapi
