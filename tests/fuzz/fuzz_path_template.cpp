// Path templates (src/config/path_template.cpp, src/router/path_template.cpp): any text either
// parses into segments or is refused; a parsed template matched against any normalised path
// captures one value per variable, each a view into the path, a single-segment one non-empty and
// without '/', and putting the values back into the template gives the path again.
#include <string>

#include "config/path_template.hpp"
#include "fuzz_check.hpp"
#include "gatehouse/router/path.hpp"
#include "router/path_template.hpp"

using namespace gatehouse;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    const std::size_t first = in.byte();  // before rest.size(): the arguments' order is unspecified
    const std::size_t split = std::min<std::size_t>(first, in.rest.size());
    const auto text = in.rest.substr(0, split);
    std::string error, path;
    auto segments = config::parse_path_template(text, error);
    if (!segments) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(config::template_variables(*segments).size() <= router::k_max_path_variables);
    if (router::normalize_path(in.rest.substr(split), path) != nullptr) return 0;
    router::path_variables vars;
    if (!router::match_path_template(*segments, path, vars)) return 0;
    FUZZ_CHECK(vars.count == config::template_variables(*segments).size());
    std::string rebuilt;
    bool empty_rest = false;
    std::size_t v = 0;
    for (const auto& s : *segments) {
        if (s.what == config::template_segment::kind::literal) {
            rebuilt += '/' + s.text;
            continue;
        }
        const auto value = vars.values[v];
        FUZZ_CHECK(vars.names[v++] == s.text);
        FUZZ_CHECK(value.empty() || (value.data() >= path.data() && value.data() + value.size() <= path.data() + path.size()));
        if (s.what == config::template_segment::kind::variable) FUZZ_CHECK(!value.empty() && value.find('/') == std::string_view::npos);
        empty_rest = s.what == config::template_segment::kind::rest && value.empty();
        rebuilt += '/';
        rebuilt += value;
    }
    // "/files/{p=**}" takes "/files" as well as "/files/" (p empty either way).
    FUZZ_CHECK(rebuilt == path || (empty_rest && rebuilt == path + "/"));
    return 0;
}
