#pragma once
// JSON Schema patterns are ECMA-262 regular expressions; gatehouse matches them with RE2 (linear
// time). The syntax both share passes unchanged; this rewrites what RE2 spells differently.
#include <string>
#include <string_view>

namespace gatehouse::openapi {

// `pattern` with ECMA-262's long Unicode property names (\p{Letter}, \p{Script=Greek}) in RE2's
// spelling (\p{L}, \p{Greek}). Whatever RE2 cannot do (lookaround, backreferences) is left for
// RE2 to refuse.
std::string ecma_to_re2(std::string_view pattern);

}  // namespace gatehouse::openapi
