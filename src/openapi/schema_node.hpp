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

    std::vector<std::pair<std::string, node_id>> properties;  // sorted by name; property_table finds them
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
    bool has_applicators = false;  // $ref, allOf, anyOf, oneOf, not, if

    // Property lookup: an open-addressing table of property indices (a power of two, at least
    // twice the properties), hashed on a name's length and end bytes, confirmed by comparing it.
    static std::size_t property_hash(std::string_view s) {
        if (s.empty()) return 0;
        return s.size() * 0x9E3779B1u + static_cast<unsigned char>(s.front()) * 0x85EBCA6Bu +
               static_cast<unsigned char>(s.back()) * 0xC2B2AE35u + static_cast<unsigned char>(s[s.size() / 2]);
    }
    static constexpr std::uint32_t k_empty_slot = std::uint32_t(-1);
    std::vector<std::uint32_t> property_table;
    static constexpr std::size_t k_no_property = std::size_t(-1);
    std::size_t find_property_index(std::string_view name) const {
        if (property_table.empty()) return k_no_property;
        const std::size_t mask = property_table.size() - 1;
        for (std::size_t slot = property_hash(name) & mask;; slot = (slot + 1) & mask) {
            std::uint32_t i = property_table[slot];
            if (i == k_empty_slot) return k_no_property;
            if (properties[i].first == name) return i;
        }
    }
    void index_properties() {
        property_table.clear();
        if (properties.empty()) return;
        std::size_t size = 4;
        while (size < 2 * properties.size()) size *= 2;
        property_table.assign(size, k_empty_slot);
        for (std::uint32_t i = 0; i < properties.size(); ++i) {
            std::size_t slot = property_hash(properties[i].first) & (size - 1);
            while (property_table[slot] != k_empty_slot) slot = (slot + 1) & (size - 1);
            property_table[slot] = i;
        }
    }
    const node_id* find_property(std::string_view name) const {
        auto i = find_property_index(name);
        return i == k_no_property ? nullptr : &properties[i].second;
    }
};

}  // namespace gatehouse::openapi
