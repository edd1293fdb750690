// The body parser of the openapi middleware (src/json/tape.cpp), differential against
// nlohmann/json's parser: both accept or both refuse a text (but for what nests past our depth
// bound, which only we refuse, and a NUL byte, which nlohmann takes for the end of its input and
// we refuse wherever it is), and an accepted text gives the same
// values: the same kinds (unsigned, signed, double), numbers, strings after unescaping, arrays in
// order and objects with the same members where a repeated name keeps its last value. A copy of
// nlohmann's value into a tape (tape::from) equals the parsed one too, and so does the text
// without its whitespace (util::append_minified).
#include <cstring>
#include <string>

#include "fuzz_check.hpp"
#include "json/tape.hpp"
#include "openapi/json_limits.hpp"
#include "util/json_minify.hpp"

using namespace gatehouse;
using nlohmann::json;

namespace {

constexpr std::size_t k_depth = 64;

bool same(json_tape::value t, const json& j) {
    using k = json_tape::kind;
    switch (j.type()) {
        case json::value_t::null: return t.type() == k::null;
        case json::value_t::boolean: return t.type() == k::boolean && t.boolean() == j.get<bool>();
        case json::value_t::number_integer: return t.type() == k::integer && t.integer() == j.get<std::int64_t>();
        case json::value_t::number_unsigned:
            return t.type() == k::unsigned_integer && t.unsigned_integer() == j.get<std::uint64_t>();
        case json::value_t::number_float: {
            if (t.type() != k::floating) return false;
            double a = t.number(), b = j.get<double>();
            return std::memcmp(&a, &b, sizeof a) == 0;
        }
        case json::value_t::string: return t.is_string() && t.string() == j.get_ref<const std::string&>();
        case json::value_t::array: {
            if (!t.is_array() || t.size() != j.size()) return false;
            auto it = t.items();
            for (auto& item : j) {
                if (it.done() || !same(it.value(), item)) return false;
                it.next();
            }
            return it.done();
        }
        case json::value_t::object: {
            if (!t.is_object() || t.size() != j.size()) return false;
            std::size_t members = 0;
            for (auto m = t.members(); !m.done(); m.next()) ++members;
            if (members != j.size()) return false;
            for (auto it = j.begin(); it != j.end(); ++it) {
                json_tape::value v(nullptr, 0);
                if (!t.find(it.key(), v) || !same(v, *it)) return false;
            }
            return true;
        }
        default: return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto text = fuzz::as_text(data, size);
    json_tape::tape t;
    json_tape::refusal why;
    const bool ours = t.parse(text, k_depth, why);
    FUZZ_CHECK(ours == (why == json_tape::refusal::none));
    if (text.find('\0') != std::string_view::npos) {  // nlohmann stops at a NUL as at the end: we refuse it
        FUZZ_CHECK(!ours);
        return 0;
    }
    auto theirs = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (why == json_tape::refusal::too_deep) {
        FUZZ_CHECK(openapi::json_depth(text, k_depth) > k_depth);
        return 0;
    }
    FUZZ_CHECK(ours == !theirs.is_discarded());
    if (!ours) return 0;
    FUZZ_CHECK(same(t.root(), theirs));
    auto copy = json_tape::tape::from(theirs);
    FUZZ_CHECK(json_tape::equal(copy.root(), t.root()));
    FUZZ_CHECK(json_tape::equal(t.root(), t.root()));
    std::string minified;  // util/json_minify (a composition's spliced calls): the same value
    util::append_minified(minified, text);
    FUZZ_CHECK(json::parse(minified, nullptr, false) == theirs);
    return 0;
}
