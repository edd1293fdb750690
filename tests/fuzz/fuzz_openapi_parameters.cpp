// The openapi middleware's parameter deserialiser (src/middleware/openapi/parameters.cpp): the
// first bytes choose a parameter (where, style, explode, the schema's types and its items'), the
// rest is the client's text: a path segment, header or cookie value, or a whole query string.
// Deserialising never throws; a query parameter reported as repeated came more than once and is
// not an exploded array; every pair it took is marked used; a value with no structure asked for
// comes back as the text itself or a coerced scalar.
#include <string>

#include "fuzz_check.hpp"
#include "middleware/openapi/parameters.hpp"
#include "openapi/schema_node.hpp"

using namespace gatehouse;
namespace oa = gatehouse::openapi;
namespace mw = gatehouse::middleware::openapi_mw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    oa::parameter p;
    const auto how = in.byte();
    p.in = static_cast<oa::param_in>(how % 4);
    p.style = static_cast<oa::param_style>((how / 4) % 7);
    p.explode = (how / 28) & 1;
    p.json_content = (how / 56) & 1;
    p.types = in.byte() & 0x7f;
    p.item_types = in.byte() & 0x7f;
    const std::size_t wanted = in.byte() % 8;  // before rest.size(): an argument's order of evaluation is unspecified
    const auto name_len = std::min(wanted, in.rest.size());
    p.name = std::string(in.rest.substr(0, name_len));
    in.rest.remove_prefix(name_len);
    if (p.name.empty()) p.name = "id";

    auto value = mw::deserialise_value(p, in.rest);
    if (p.types == 0 && !p.json_content) FUZZ_CHECK(value.is_string() || value.is_array() || value.is_object());

    auto pairs = mw::split_query(in.rest);
    std::vector<bool> used(pairs.size(), false);
    bool repeated = false;
    auto q = mw::deserialise_query(p, pairs, used, &repeated);
    std::size_t named = 0;
    for (auto& [n, v] : pairs) named += n == p.name;
    if (repeated) {
        FUZZ_CHECK(named > 1);
        FUZZ_CHECK(!((p.types & oa::t_array) && p.explode && !p.json_content));
        FUZZ_CHECK(q && q->is_null());
    }
    if (p.style != oa::param_style::deep_object)
        for (std::size_t i = 0; i < pairs.size(); ++i)
            if (used[i]) FUZZ_CHECK(pairs[i].first == p.name);
    return 0;
}
