// Composition references (src/compose/reference.cpp, render.cpp): any text either parses into a
// call template or is refused with a reason; a parsed one holds exactly one reference per '{',
// and rendering it with fuzzer-chosen values (the rest of the input, as text and as JSON) never
// adds a '/', '?', '#' or '&' the template's literals do not have: a value cannot add a segment
// or a parameter. Every encoded value decodes to itself and is never a dot segment. JSON bodies
// render too, and field paths parsed from the value find their way through it.
#include <algorithm>
#include <string>
#include <vector>

#include "compose/reference.hpp"
#include "compose/render.hpp"
#include "fuzz_check.hpp"
#include "util/percent.hpp"

using namespace gatehouse;
using namespace gatehouse::compose;

namespace {

std::size_t count_of(std::string_view s, char c) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), c)); }

void check_encoding(std::string_view value) {
    std::string enc;
    append_encoded(enc, value);
    for (unsigned char c : enc)
        FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' ||
                   c == '.' || c == '%');
    FUZZ_CHECK(enc != "." && enc != "..");
    FUZZ_CHECK(util::percent_decoded(enc) == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    const std::size_t split = std::min<std::size_t>(in.byte(), in.rest.size());
    const auto text = in.rest.substr(0, split);
    const auto value = in.rest.substr(split);
    check_encoding(value);

    auto doc = nlohmann::json::parse(value, nullptr, false);
    if (doc.is_discarded()) doc = std::string(value);
    std::string error;
    if (auto steps = parse_json_path(value, error)) {
        FUZZ_CHECK(!steps->empty());
        (void)find(doc, *steps);
    } else {
        FUZZ_CHECK(!error.empty());
    }

    error.clear();
    auto t = parse_template(text, error);
    if (!t) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    // One reference per '{'; literals hold no brace; what each reference reads is well formed.
    std::size_t refs = 0;
    std::string literals;
    request_inputs inputs;
    std::vector<call_config> calls;
    for (const auto& p : *t) {
        if (!p.ref) {
            FUZZ_CHECK(p.literal.find_first_of("{}") == std::string::npos);
            literals += p.literal;
            continue;
        }
        ++refs;
        const auto& r = *p.ref;
        FUZZ_CHECK(!r.name.empty());
        const std::pair<std::string, std::string> named{r.name, std::string(value)};
        switch (r.from) {
            case source::path: inputs.path_vars.push_back(named); break;
            case source::header: inputs.fields.push_back(named); break;
            case source::claim: inputs.claims.push_back(named); break;
            case source::query: inputs.query = r.name + "=" + std::string(value); break;
            case source::call:
                FUZZ_CHECK(!r.steps.empty());
                if (std::none_of(calls.begin(), calls.end(), [&](auto& c) { return c.name == r.name; })) {
                    calls.emplace_back();
                    calls.back().name = r.name;
                }
                break;
            case source::item: break;
        }
    }
    FUZZ_CHECK(refs == count_of(text, '{'));

    std::vector<const nlohmann::json*> results(calls.size(), &doc);
    const render_context ctx{inputs, calls, results, &doc};
    std::string missing;
    if (auto path = render_path(*t, ctx, missing)) {
        for (char c : {'/', '?', '#', '&'}) FUZZ_CHECK(count_of(*path, c) == count_of(literals, c));
    } else {
        FUZZ_CHECK(!missing.empty());
    }
    const auto body = nlohmann::json{{"whole", std::string(text)}, {"list", {std::string(text), 1}}};
    missing.clear();
    if (!render_body(body, ctx, missing)) FUZZ_CHECK(!missing.empty());
    return 0;
}
