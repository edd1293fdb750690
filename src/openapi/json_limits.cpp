#include "openapi/json_limits.hpp"

namespace gatehouse::openapi {

std::size_t json_depth(std::string_view text, std::size_t limit) {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit) return deepest;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

std::optional<nlohmann::json> parse_bounded(std::string_view text, std::size_t max_depth, json_refusal& why) {
    why = json_refusal::none;
    if (json_depth(text, max_depth) > max_depth) {
        why = json_refusal::too_deep;
        return std::nullopt;
    }
    auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        why = json_refusal::syntax;
        return std::nullopt;
    }
    return doc;
}

}  // namespace gatehouse::openapi
