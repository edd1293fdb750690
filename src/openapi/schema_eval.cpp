// Evaluating a compiled schema against an instance. Each node's keywords are checked in turn;
// subschemas nest a C++ call, bounded by k_max_eval_depth whatever the instance, and every call,
// comparison and pattern match spends one step of the request's budget. Annotations (which
// properties and items were evaluated) are gathered only below a node that has
// unevaluatedProperties/unevaluatedItems.
#include <algorithm>
#include <array>
#include <cmath>

#include "openapi/schema_node.hpp"
#include "openapi/uri.hpp"

namespace gatehouse::openapi {
namespace {

using json_tape::kind;
using json_tape::value;

// Objects up to this many members have their properties found once per evaluation (object()).
constexpr std::size_t k_cached_members = 32;

// What an in-place evaluation saw of the instance it ran on (for unevaluated*).
struct seen {
    std::vector<std::string_view> properties;  // evaluated property names (may repeat)
    bool all_properties = false;
    std::size_t items = 0;  // items [0, items) evaluated
    bool all_items = false;
    std::vector<std::size_t> contained;  // items `contains` matched

    void merge(const seen& o) {
        properties.insert(properties.end(), o.properties.begin(), o.properties.end());
        all_properties = all_properties || o.all_properties;
        items = std::max(items, o.items);
        all_items = all_items || o.all_items;
        contained.insert(contained.end(), o.contained.begin(), o.contained.end());
    }
    // For unevaluatedProperties/unevaluatedItems: what was seen made searchable in one pass
    // (sorted names; a bitmap of the items `contains` matched), so that asking about each of
    // the instance's members is logarithmic or constant, never a scan per member.
    void index(std::size_t item_count) {
        std::sort(properties.begin(), properties.end());
        contained_map.assign(item_count, false);
        for (auto k : contained)
            if (k < item_count) contained_map[k] = true;
    }
    bool has_property(std::string_view name) const {
        return all_properties || std::binary_search(properties.begin(), properties.end(), name);
    }
    bool has_item(std::size_t i) const { return all_items || i < items || (i < contained_map.size() && contained_map[i]); }
    std::vector<bool> contained_map;  // index()
};

// A step of the instance path, for error pointers.
struct path_step {
    std::string_view name;
    std::size_t index = 0;
    bool is_index = false;
};

// RE2::PartialMatch without its argument plumbing: an unanchored search, nothing captured.
bool matches(const re2::RE2& re, std::string_view s) {
    return re.Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), re2::RE2::UNANCHORED, nullptr, 0);
}

std::size_t utf8_length(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

bool is_integer(value v) {
    if (v.is_integer_kind()) return true;  // signed and unsigned
    if (v.type() != kind::floating) return false;
    double d = v.number();
    return std::isfinite(d) && std::floor(d) == d;
}

bool type_matches(std::uint8_t types, value v) {
    switch (v.type()) {
        case kind::null: return types & t_null;
        case kind::boolean: return types & t_boolean;
        case kind::object: return types & t_object;
        case kind::array: return types & t_array;
        case kind::string: return types & t_string;
        case kind::integer:
        case kind::unsigned_integer:
        case kind::floating: return (types & t_number) || ((types & t_integer) && is_integer(v));
    }
    return false;
}

bool is_multiple(value v, double m) {
    if (v.is_integer_kind() && std::floor(m) == m && m < 9.0e15) {
        auto i = v.type() == kind::unsigned_integer ? static_cast<long double>(v.unsigned_integer())
                                                    : static_cast<long double>(v.integer());
        return std::fmod(i, static_cast<long double>(m)) == 0;
    }
    double d = v.number();
    double q = d / m;
    // A quotient past double's range: an integral value is a multiple of 1/n (0.5, 0.25).
    if (!std::isfinite(q)) return std::floor(d) == d && std::floor(1 / m) == 1 / m;
    return std::fabs(q - std::round(q)) < 1e-9 * std::max(1.0, std::fabs(q));
}

}  // namespace

struct schema_set::evaluator {
    const schema_set& set;
    const eval_limits& limits;
    validation_result& result;
    std::size_t steps = 0;
    std::size_t depth = 0;
    std::size_t quiet = 0;  // inside anyOf/oneOf/not/if/contains: failures are not reported
    std::vector<path_step> path{};

    bool reporting() const { return quiet == 0 && result.errors.size() < limits.max_errors; }
    bool exhausted() const { return result.exhausted; }

    std::string pointer() const {
        std::string p;
        for (auto& s : path) (p += '/') += s.is_index ? std::to_string(s.index) : escape_pointer_token(s.name);
        return p;
    }
    // Out of line: the hot functions that call it keep no strings of their own.
    [[gnu::noinline]] bool fail(std::string_view keyword, std::string_view detail) {
        if (reporting()) result.errors.push_back({pointer(), std::string(keyword), std::string(detail)});
        return false;
    }
    // A bound's failure, its words built only then (off the hot functions' frames).
    [[gnu::cold]] [[gnu::noinline]] bool fail_bound(std::string_view keyword, std::string_view before, std::uint64_t bound,
                                                    std::string_view after) {
        if (!reporting()) return false;
        std::string detail(before);
        (detail += std::to_string(bound)) += after;
        return fail(keyword, detail);
    }
        bool spend(std::size_t n = 1) {
        steps += n;
        if (steps <= limits.max_steps) return true;
        if (!result.exhausted) {
            result.exhausted = true;
            if (result.errors.size() < limits.max_errors)
                result.errors.push_back({pointer(), "budget", "the document needs more validation steps than allowed"});
        }
        return false;
    }

    // The node applied to `v`; `out`, when given, receives what it evaluated in place.
    bool eval(node_id id, value v, seen* out);
    // A subschema on a child of `v` (a property or an item): annotations stay with that child.
    bool eval_child(node_id id, value v, std::string_view name, std::size_t index, bool is_index) {
        const bool track = quiet == 0;  // the path is only for error pointers
        if (track) path.push_back({name, index, is_index});
        bool r = eval(id, v, nullptr);
        if (track) path.pop_back();
        return r;
    }
    bool quietly(node_id id, value v, seen* out) {
        ++quiet;
        bool r = eval(id, v, out);
        --quiet;
        return r;
    }

    [[gnu::always_inline]] bool keywords(const node& n, value v, seen* s);  // eval() once the node is known
    bool assertions(const node& n, value v);
    bool numeric(const node& n, value v);
    bool object(const node& n, value v, seen* s);
    bool array(const node& n, value v, seen* s);
    bool applicators(const node& n, value v, seen* s);
    bool unique(value v);
};

bool schema_set::evaluator::eval(node_id id, value v, seen* out) {
    const node& n = set.nodes_[id];
    if (n.what == node::kind::always_true) return true;
    if (n.what == node::kind::always_false) return fail("false", "no value is allowed here");
    if (!spend()) return false;
    if (depth >= k_max_eval_depth) {
        if (!result.exhausted) {
            result.exhausted = true;
            if (result.errors.size() < limits.max_errors)
                result.errors.push_back({pointer(), "depth", "the document nests deeper than the schema allows"});
        }
        return false;
    }
    ++depth;
    bool ok;
    if (out || n.wants_annotations) {  // only then: a valid document allocates nothing here
        seen local;
        ok = keywords(n, v, &local);
        if (ok && out && !exhausted()) out->merge(local);
    } else {
        ok = keywords(n, v, nullptr);
    }
    --depth;
    if (exhausted()) return false;
    return ok;
}

inline bool schema_set::evaluator::keywords(const node& n, value v, seen* s) {
    bool full = reporting();  // keep going after a failure to report every one
    bool ok = assertions(n, v);
    if ((ok || full) && n.has_applicators) ok = applicators(n, v, s) && ok;
    if ((ok || full) && v.is_object()) ok = object(n, v, s) && ok;
    if ((ok || full) && v.is_array()) ok = array(n, v, s) && ok;
    return ok;
}

bool schema_set::evaluator::assertions(const node& n, value v) {
    bool ok = true;
    if (n.types && !type_matches(n.types, v)) ok = fail("type", "has the wrong type");
    if (n.const_value) {
        if (!spend()) return false;
        if (!json_tape::equal(n.const_value->root(), v)) ok = fail("const", "must equal the schema's constant");
    }
    if (n.enum_values) {
        bool found = false;
        for (auto e = n.enum_values->root().items(); !e.done(); e.next()) {
            if (!spend()) return false;
            if (json_tape::equal(e.value(), v)) {
                found = true;
                break;
            }
        }
        if (!found) ok = fail("enum", "must be one of the schema's values");
    }
    if (v.is_number()) ok = numeric(n, v) && ok;
    if (v.is_string()) {
        const std::string_view str = v.string();
        if (n.max_length || n.min_length) {
            auto len = utf8_length(str);
            if (n.max_length && len > *n.max_length)
                ok = fail_bound("maxLength", "must be at most ", *n.max_length, " characters long");
            if (n.min_length && len < *n.min_length)
                ok = fail_bound("minLength", "must be at least ", *n.min_length, " characters long");
        }
        if (n.pattern) {
            if (!spend(1 + str.size() / 4096)) return false;
            if (!matches(*n.pattern, str)) ok = fail("pattern", "must match the schema's pattern");
        }
    }
    return ok;
}

bool schema_set::evaluator::numeric(const node& n, value v) {
    bool ok = true;
    // Integers beyond 2^53 compare as doubles: close enough for bounds written in a spec.
    double d = v.number();
    if (n.maximum && !(d <= *n.maximum)) ok = fail("maximum", "must be at most the schema's maximum");
    if (n.exclusive_maximum && !(d < *n.exclusive_maximum))
        ok = fail("exclusiveMaximum", "must be less than the schema's exclusive maximum");
    if (n.minimum && !(d >= *n.minimum)) ok = fail("minimum", "must be at least the schema's minimum");
    if (n.exclusive_minimum && !(d > *n.exclusive_minimum))
        ok = fail("exclusiveMinimum", "must be greater than the schema's exclusive minimum");
    if (n.multiple_of && !is_multiple(v, *n.multiple_of)) ok = fail("multipleOf", "must be a multiple of the schema's multipleOf");
    return ok;
}

bool schema_set::evaluator::unique(value v) {
    for (auto a = v.items(); !a.done(); a.next()) {
        auto b = a;
        for (b.next(); !b.done(); b.next()) {
            if (!spend()) return false;
            if (json_tape::equal(a.value(), b.value())) return false;
        }
    }
    return true;
}

bool schema_set::evaluator::object(const node& n, value v, seen* s) {
    bool ok = true;
    bool full = reporting();
    if (n.max_properties && v.size() > *n.max_properties)
        ok = fail_bound("maxProperties", "must have at most ", *n.max_properties, " properties");
    if (n.min_properties && v.size() < *n.min_properties)
        ok = fail_bound("minProperties", "must have at least ", *n.min_properties, " properties");
    // Quietly (the first pass of a valid document), `required` comes from one pass over the
    // members that finds each one's property once, for the property loop below too.
    std::array<std::size_t, k_cached_members> cached;
    const bool use_cache = !full && n.required_by_properties && v.size() <= k_cached_members;
    if (use_cache) {
        std::uint64_t bits = 0;
        std::size_t k = 0;
        for (auto it = v.members(); !it.done(); it.next(), ++k) {
            cached[k] = n.find_property_index(it.key());
            if (cached[k] != node::k_no_property) bits |= n.property_required_bits[cached[k]];
        }
        if (bits != n.required_mask) return false;
    } else {
        for (auto& r : n.required) {
            if (!v.contains(r)) {
                path.push_back({r, 0, false});
                ok = fail("required", "is required");
                path.pop_back();
                if (!full) return false;
            }
        }
    }
    for (auto& [name, deps] : n.dependent_required) {
        if (!v.contains(name)) continue;
        for (auto& d : deps)
            if (!v.contains(d)) {
                path.push_back({d, 0, false});
                ok = fail("dependentRequired", "is required when \"" + name + "\" is present");
                path.pop_back();
            }
    }
    if (!ok && !full) return false;
    for (auto& [name, sub] : n.dependent_schemas) {
        if (!v.contains(name)) continue;
        seen ds;
        if (!eval(sub, v, s ? &ds : nullptr)) {
            ok = false;
            if (!full) return false;
        } else if (s) {
            s->merge(ds);
        }
    }
    bool per_property = !n.properties.empty() || !n.pattern_properties.empty() || n.additional_properties ||
                        n.property_names;
    if (per_property) {
        std::size_t k = 0;
        for (auto it = v.members(); !it.done(); it.next(), ++k) {
            const std::string_view key = it.key();
            bool matched = false;
            const node_id* p = nullptr;
            if (use_cache) p = cached[k] == node::k_no_property ? nullptr : &n.properties[cached[k]].second;
            else p = n.find_property(key);
            if (p) {
                matched = true;
                if (!eval_child(*p, it.value(), key, 0, false)) ok = false;
                if (s) s->properties.push_back(key);
            }
            for (auto& [re, sub] : n.pattern_properties) {
                if (!spend(1 + key.size() / 4096)) return false;
                if (!matches(*re, key)) continue;
                matched = true;
                if (!eval_child(sub, it.value(), key, 0, false)) ok = false;
                if (s) s->properties.push_back(key);
            }
            if (!matched && n.additional_properties) {
                if (!eval_child(*n.additional_properties, it.value(), key, 0, false)) ok = false;
                if (s) s->properties.push_back(key);
            }
            if (n.property_names) {
                bool named = quietly(*n.property_names, it.name(), nullptr);
                if (!named) {
                    path.push_back({key, 0, false});
                    ok = fail("propertyNames", "this property name is not allowed");
                    path.pop_back();
                }
            }
            if (exhausted() || (!ok && !full)) return false;
        }
    }
    if (n.unevaluated_properties && ok) {
        if (!spend(s->properties.size() + 1)) return false;  // the index: one pass (and a sort) over what was seen
        s->index(0);
        for (auto it = v.members(); !it.done(); it.next()) {
            if (s->has_property(it.key())) continue;
            if (!eval_child(*n.unevaluated_properties, it.value(), it.key(), 0, false)) {
                ok = false;
                if (!full) return false;
            }
        }
        s->all_properties = true;
    }
    return ok;
}

bool schema_set::evaluator::array(const node& n, value v, seen* s) {
    bool ok = true;
    bool full = reporting();
    if (n.max_items && v.size() > *n.max_items)
        ok = fail_bound("maxItems", "must have at most ", *n.max_items, " items");
    if (n.min_items && v.size() < *n.min_items)
        ok = fail_bound("minItems", "must have at least ", *n.min_items, " items");
    if (n.unique_items && !unique(v)) {
        if (exhausted()) return false;
        ok = fail("uniqueItems", "items must be unique");
    }
    if (!ok && !full) return false;
    std::size_t i = 0;
    auto item = v.items();
    for (; i < n.prefix_items.size() && !item.done(); ++i, item.next()) {
        if (!eval_child(n.prefix_items[i], item.value(), {}, i, true)) {
            ok = false;
            if (!full) return false;
        }
    }
    if (s) s->items = std::max(s->items, i);
    if (n.items) {
        for (; !item.done(); ++i, item.next()) {
            if (!eval_child(*n.items, item.value(), {}, i, true)) {
                ok = false;
                if (!full) return false;
            }
        }
        if (s) s->all_items = true;
    }
    if (n.contains) {
        std::uint64_t matches = 0;
        std::size_t k = 0;
        for (auto it = v.items(); !it.done(); it.next(), ++k) {
            bool m = quietly(*n.contains, it.value(), nullptr);
            if (exhausted()) return false;
            if (m) {
                ++matches;
                if (s) s->contained.push_back(k);
            }
        }
        std::uint64_t min = n.min_contains.value_or(1);
        if (matches < min) ok = fail(n.min_contains ? "minContains" : "contains", "too few items match the schema's contains");
        if (n.max_contains && matches > *n.max_contains)
            ok = fail("maxContains", "too many items match the schema's contains");
    }
    if (n.unevaluated_items && ok) {
        if (!spend(s->contained.size() + 1)) return false;  // the index: one pass over what `contains` matched
        s->index(v.size());
        std::size_t k = 0;
        for (auto it = v.items(); !it.done(); it.next(), ++k) {
            if (s->has_item(k)) continue;
            if (!eval_child(*n.unevaluated_items, it.value(), {}, k, true)) {
                ok = false;
                if (!full) return false;
            }
        }
        s->all_items = true;
    }
    return ok;
}

bool schema_set::evaluator::applicators(const node& n, value v, seen* s) {
    bool ok = true;
    bool full = reporting();
    if (n.ref && !eval(*n.ref, v, s)) {
        ok = false;
        if (!full) return false;
    }
    for (auto sub : n.all_of) {
        if (!eval(sub, v, s)) {
            ok = false;
            if (!full) return false;
        }
    }
    if (!n.any_of.empty()) {
        bool any = false;
        for (auto sub : n.any_of) {
            if (quietly(sub, v, s)) {
                any = true;
                if (!s) break;  // annotations want every valid branch
            }
            if (exhausted()) return false;
        }
        if (!any) ok = fail("anyOf", "must match at least one of the schema's alternatives");
    }
    if (!n.one_of.empty()) {
        std::size_t matches = 0;
        seen branch;
        for (auto sub : n.one_of) {
            seen b;
            if (quietly(sub, v, s ? &b : nullptr)) {
                ++matches;
                branch = std::move(b);
            }
            if (exhausted()) return false;
            if (matches > 1) break;
        }
        if (matches != 1) {
            ok = fail("oneOf", matches ? "must match exactly one of the schema's alternatives, not several"
                                       : "must match exactly one of the schema's alternatives");
        } else if (s) {
            s->merge(branch);
        }
    }
    if (n.not_) {
        bool matched = quietly(*n.not_, v, nullptr);
        if (exhausted()) return false;
        if (matched) ok = fail("not", "must not match the schema's \"not\"");
    }
    if (n.if_) {
        seen cond;
        bool holds = quietly(*n.if_, v, s ? &cond : nullptr);
        if (exhausted()) return false;
        if (holds && s) s->merge(cond);
        auto branch = holds ? n.then_ : n.else_;
        if (branch && !eval(*branch, v, s)) ok = false;
    }
    return ok;
}

// Two passes: a quiet one that stops at the first failure and keeps no instance path (a valid
// document, the common case, allocates nothing here), then, only for an invalid one, a pass that
// reports every failure.
validation_result schema_set::validate(std::uint32_t schema, const json& instance, const eval_limits& limits) const {
    thread_local json_tape::tape t;  // a parameter's value: small, its buffers reused
    t.assign(instance);
    auto r = validate(schema, t.root(), limits);
    t.shrink(64 * 1024);
    return r;
}

validation_result schema_set::validate(std::uint32_t schema, json_tape::value instance, const eval_limits& limits) const {
    validation_result quick;
    {
        evaluator e{*this, limits, quick};
        e.quiet = 1;
        quick.valid = e.eval(schema, instance, nullptr) && !quick.exhausted;
    }
    if (quick.valid || limits.max_errors == 0) return quick;
    validation_result r;
    evaluator e{*this, limits, r};
    r.valid = e.eval(schema, instance, nullptr) && !r.exhausted;
    if (!r.valid && r.errors.empty()) r.errors.push_back({"", "schema", "does not match the schema"});
    return r;
}

}  // namespace gatehouse::openapi
