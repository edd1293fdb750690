// The JSON Schema compiler and evaluator (src/openapi/schema_compile.cpp, schema_eval.cpp): the
// input's first byte splits it into a schema (JSON text, as a spec's schemas arrive) and an
// instance (JSON text, as a client's body arrives). A schema either compiles or is refused with
// diagnostics; a compiled one evaluates any instance within the step budget and error cap, the
// verdict agrees with the errors, and evaluating twice gives the same verdict, as does evaluating
// the instance parsed by the middleware's own parser (json/tape.hpp) instead of nlohmann's.
#include <string>

#include "fuzz_check.hpp"
#include "json/tape.hpp"
#include "openapi/json_limits.hpp"
#include "openapi/schema.hpp"

using namespace gatehouse;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    const bool openapi = in.byte() & 1;
    const std::size_t wanted = static_cast<std::size_t>(in.byte()) * 4;  // before rest.size() (unspecified order)
    const std::size_t split = std::min(wanted, in.rest.size());
    auto schema_doc = openapi::json::parse(in.rest.substr(0, split), nullptr, false);
    if (schema_doc.is_discarded()) return 0;
    openapi::schema_set set(openapi::dialect{.openapi = openapi});
    std::vector<openapi::schema_diagnostic> diags;
    std::optional<std::uint32_t> id;
    try {  // control plane: the loader reports a library exception as a diagnostic (openapi_config.cpp)
        set.add_document("urn:fuzz", std::move(schema_doc));
        id = set.compile("urn:fuzz", "", diags);
    } catch (const std::exception&) {
        return 0;
    }
    if (!id) {
        FUZZ_CHECK(!diags.empty());
        return 0;
    }
    openapi::json_refusal why;
    auto instance = openapi::parse_bounded(in.rest.substr(split), 64, why);
    if (!instance) return 0;
    const openapi::eval_limits limits{.max_steps = 20'000, .max_errors = 20};
    auto r = set.validate(*id, *instance, limits);  // data plane: never throws
    FUZZ_CHECK(r.valid == r.errors.empty());
    FUZZ_CHECK(r.errors.size() <= limits.max_errors);
    for (auto& e : r.errors) FUZZ_CHECK(!e.keyword.empty() && (e.pointer.empty() || e.pointer.front() == '/'));
    FUZZ_CHECK(set.validate(*id, *instance, limits).valid == r.valid);
    // The same text through the middleware's parser (json/tape.hpp) gets the same verdict (but
    // for a NUL byte, which nlohmann takes for the end of its input and the tape refuses).
    if (in.rest.substr(split).find('\0') != std::string_view::npos) return 0;
    json_tape::tape doc;
    json_tape::refusal tape_why;
    FUZZ_CHECK(doc.parse(in.rest.substr(split), 64, tape_why));
    FUZZ_CHECK(set.validate(*id, doc.root(), limits).valid == r.valid);
    return 0;
}
