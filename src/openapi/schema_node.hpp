#pragma once
// One compiled schema object: each keyword it has, with subschemas as node ids into the set's
// table (so $ref cycles are ids, not ownership). Private to schema_compile.cpp and schema_eval.cpp.
#include <re2/re2.h>

#include "openapi/schema.hpp"

namespace gatehouse::openapi {

using node_id = std::uint32_t;

// The JSON types of `type`, as bits; `integer` is a number with no fractional part.
enum type_bit : std::uint8_t {
    t_null = 1,
    t_boolean = 2,
    t_object = 4,
    t_array = 8,
    t_number = 16,
    t_string = 32,
    t_integer = 64,
};

struct schema_set::node {
    enum class kind : std::uint8_t { always_true, always_false, keywords } what = kind::always_true;
    std::string pointer;  // where it came from (diagnostics, error reports)

    std::uint8_t types = 0;  // 0: no `type`
    std::optional<json_tape::tape> const_value;
    std::optional<json_tape::tape> enum_values;  // an array
    std::optional<double> multiple_of, maximum, exclusive_maximum, minimum, exclusive_minimum;
    std::optional<std::uint64_t> max_length, min_length, max_items, min_items, max_contains, min_contains,
        max_properties, min_properties;
    std::shared_ptr<const re2::RE2> pattern;
    bool unique_items = false;
    std::vector<std::string> required;
    std::vector<std::pair<std::string, std::vector<std::string>>> dependent_required;

    std::vector<std::pair<std::string, node_id>> properties;  // sorted by property_order
    // `required` answered in the pass over the members that finds their properties, when every
    // required name is a property (and there are at most 64): each property's bit, and all bits.
    std::vector<std::uint64_t> property_required_bits;  // parallel to properties
    std::uint64_t required_mask = 0;
    bool required_by_properties = false;
    std::vector<std::pair<std::shared_ptr<const re2::RE2>, node_id>> pattern_properties;
    std::optional<node_id> additional_properties, property_names, unevaluated_properties;
    std::vector<std::pair<std::string, node_id>> dependent_schemas;

    std::vector<node_id> prefix_items;
    std::optional<node_id> items, contains, unevaluated_items;

    std::vector<node_id> all_of, any_of, one_of;
    std::optional<node_id> not_, if_, then_, else_, ref;

    // unevaluatedProperties/Items: this node's in-place subschemas report what they evaluated.
    bool wants_annotations = false;

    // Shorter names first, then bytes: most comparisons of a lookup are of two lengths.
    static bool property_order(std::string_view a, std::string_view b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    }
    static constexpr std::size_t k_no_property = std::size_t(-1);
    std::size_t find_property_index(std::string_view name) const {
        auto it = std::lower_bound(properties.begin(), properties.end(), name,
                                   [](const auto& p, std::string_view n) { return property_order(p.first, n); });
        if (it == properties.end() || it->first != name) return k_no_property;
        return static_cast<std::size_t>(it - properties.begin());
    }
    const node_id* find_property(std::string_view name) const {
        auto i = find_property_index(name);
        return i == k_no_property ? nullptr : &properties[i].second;
    }
};

}  // namespace gatehouse::openapi
