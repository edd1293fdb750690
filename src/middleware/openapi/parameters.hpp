#pragma once
// A request's parameters as OpenAPI describes them: the text of a path segment, query
// parameter, header or cookie deserialised per the parameter's style and explode into the JSON
// value its schema validates (arrays, objects, numbers and booleans coerced from text as OAS
// 3.x's "Style Values" say). Data plane: no exceptions; a value that does not deserialise stays
// text, so the schema's `type` names what is wrong.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openapi/spec.hpp"

namespace gatehouse::middleware::openapi_mw {

using gatehouse::openapi::json;

// The query string split into (name, value) pairs, both percent-decoded ('+' is a space).
std::vector<std::pair<std::string, std::string>> split_query(std::string_view query);

// A path, header or cookie value (already separated from its neighbours) as `p` wants it.
json deserialise_value(const gatehouse::openapi::parameter& p, std::string_view text);

// A query parameter from all pairs: nullopt when it is absent. `used` marks the pairs it took
// (for unknown-parameter checks). `repeated` (when given): the name came more than once and
// the parameter is not an exploded array, so no one value is its value (null is returned).
std::optional<json> deserialise_query(const gatehouse::openapi::parameter& p,
                                      const std::vector<std::pair<std::string, std::string>>& pairs,
                                      std::vector<bool>& used, bool* repeated = nullptr);

}  // namespace gatehouse::middleware::openapi_mw
