#include "util/json_minify.hpp"

namespace gatehouse::util {

namespace {
constexpr std::string_view k_bom = "\xEF\xBB\xBF";
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

void append_minified(std::string& out, std::string_view checked) {
    if (checked.starts_with(k_bom)) checked.remove_prefix(k_bom.size());
    out.reserve(out.size() + checked.size());
    bool in_string = false, escaped = false;
    for (const char c : checked) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (is_space(c)) {
            continue;
        }
        out.push_back(c);
    }
}

}  // namespace gatehouse::util
