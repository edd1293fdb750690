// util::check_json (a JSON document checked without building it, src/util/json_check.hpp) against
// nlohmann's parser: both accept or both refuse every input (but for a number no double holds,
// which only nlohmann refuses, nesting past the limit, which only check_json refuses, and a NUL
// byte, which nlohmann takes for the end of its input), and a
// minified accepted document parses to the same value.
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "openapi/json_limits.hpp"
#include "util/json_check.hpp"

using namespace gatehouse;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    constexpr std::size_t k_depth = 64;
    const auto checked = util::check_json(text, k_depth);
    if (checked.result == util::json_check::too_deep) {
        FUZZ_CHECK(openapi::json_depth(text, k_depth) > k_depth);
        return 0;
    }
    if (openapi::json_depth(text, k_depth) > k_depth) return 0;  // only where both may judge (strings aside, nesting agrees)
    if (text.find('\0') != std::string_view::npos) {  // nlohmann takes a NUL for the end of its input; no JSON holds one
        FUZZ_CHECK(checked.result == util::json_check::syntax);
        return 0;
    }
    std::string error;
    nlohmann::json parsed;
    try {
        parsed = nlohmann::json::parse(text);
    } catch (const nlohmann::json::out_of_range&) {
        return 0;  // a number out of a double's range, where nlohmann stops: it judged nothing after it
    } catch (const nlohmann::json::exception&) {
        FUZZ_CHECK(checked.result == util::json_check::syntax);
        return 0;
    }
    FUZZ_CHECK(checked.result == util::json_check::ok);
    std::string minified;
    util::append_minified(minified, text);
    FUZZ_CHECK(nlohmann::json::parse(minified) == parsed);
    if (!checked.loose) FUZZ_CHECK(minified == text);
    return 0;
}
