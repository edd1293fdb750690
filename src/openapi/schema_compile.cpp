// Compiling schema documents into schema_set's node table: keyword by keyword, refusing what the
// evaluator does not implement (with the JSON pointer of the keyword), and resolving $ref through
// the URIs that $id and $anchor declare.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "openapi/ecma_regex.hpp"
#include "openapi/schema_node.hpp"
#include "openapi/uri.hpp"
#include "util/percent.hpp"

namespace gatehouse::openapi {
namespace {

constexpr std::size_t k_max_schema_depth = 200;  // nesting of a schema document (the operator's)
constexpr std::string_view k_dialect_2020_12 = "https://json-schema.org/draft/2020-12/schema";
constexpr std::string_view k_dialect_oas_3_1 = "https://spec.openapis.org/oas/3.1/dialect/base";

// Keywords that only annotate: accepted and not evaluated (format is an annotation in 2020-12).
const std::unordered_set<std::string_view> k_annotations = {
    "$comment", "title",           "description",     "default",       "examples",   "deprecated", "readOnly",
    "writeOnly", "format",         "contentMediaType", "contentEncoding", "contentSchema", "$defs",
    "$id",       "$anchor",        "$dynamicAnchor",  "$schema",
};
const std::unordered_set<std::string_view> k_openapi_annotations = {"discriminator", "xml", "externalDocs", "example"};

// Keywords whose value is one subschema, an array of them, or an object of them.
const std::unordered_set<std::string_view> k_single = {
    "additionalProperties", "propertyNames", "unevaluatedProperties", "items", "contains",
    "unevaluatedItems",     "not",           "if",                    "then",  "else", "contentSchema"};
const std::unordered_set<std::string_view> k_array = {"prefixItems", "allOf", "anyOf", "oneOf"};
const std::unordered_set<std::string_view> k_object = {"properties", "patternProperties", "$defs", "dependentSchemas"};

std::string child(const std::string& ptr, std::string_view token) { return ptr + "/" + escape_pointer_token(token); }
std::string child(const std::string& ptr, std::size_t index) { return ptr + "/" + std::to_string(index); }

std::optional<std::uint64_t> non_negative_integer(const json& v) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer()) {
        auto i = v.get<std::int64_t>();
        if (i >= 0) return static_cast<std::uint64_t>(i);
        return std::nullopt;
    }
    if (v.is_number_float()) {
        double d = v.get<double>();
        if (d >= 0 && std::floor(d) == d && d < 1.8e19) return static_cast<std::uint64_t>(d);
    }
    return std::nullopt;
}

std::optional<std::uint8_t> type_bits(std::string_view name) {
    if (name == "null") return t_null;
    if (name == "boolean") return t_boolean;
    if (name == "object") return t_object;
    if (name == "array") return t_array;
    if (name == "number") return t_number;
    if (name == "string") return t_string;
    if (name == "integer") return t_integer;
    return std::nullopt;
}

}  // namespace

struct schema_set::compiler {
    schema_set& set;
    std::vector<schema_diagnostic>& diags;

    // Where a schema object sits: its document and pointer, and its base URI.
    struct place {
        std::string document;
        std::string pointer;
        std::string base;
    };
    std::unordered_map<const json*, std::pair<std::string, std::string>> resource_place_;  // document, pointer

    void refuse(const place& at, std::string_view keyword, std::string reason) {
        diags.push_back({at.document, at.pointer, std::string(keyword), std::move(reason)});
    }

    // $id and $anchor of every schema in a document, so that $ref finds them.
    void index(const json& s, const place& at, std::size_t depth);
    void index_children(const json& s, const place& at, std::size_t depth);

    std::optional<node_id> compile(const json& s, const place& at, std::size_t depth);
    void compile_keyword(node& n, std::string_view key, const json& v, const place& at, const place& kat,
                         std::size_t depth, bool& ok);
    std::optional<node_id> sub(const json& v, const place& at, std::size_t depth) { return compile(v, at, depth + 1); }
    std::optional<node_id> resolve_ref(std::string_view ref, const place& at, std::size_t depth);
    std::shared_ptr<const re2::RE2> regex(const json& v, const place& at, std::string_view keyword);
    const json* document_for(const std::string& uri);
};

void schema_set::compiler::index(const json& s, const place& at, std::size_t depth) {
    if (!s.is_object() || depth > k_max_schema_depth) return;
    place here = at;
    if (auto id = s.find("$id"); id != s.end() && id->is_string()) {
        auto abs = resolve_uri(at.base, id->get<std::string>());
        auto [uri, frag] = split_fragment(abs);
        here.base = std::string(uri);
        set.resources_.emplace(here.base, &s);
        resource_place_.emplace(&s, std::pair{here.document, here.pointer});
    }
    for (auto key : {"$anchor", "$dynamicAnchor"}) {
        if (auto a = s.find(key); a != s.end() && a->is_string())
            set.anchors_.emplace(here.base + "#" + a->get<std::string>(), std::pair{&s, here.base});
    }
    index_children(s, here, depth);
}

void schema_set::compiler::index_children(const json& s, const place& at, std::size_t depth) {
    for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& key = it.key();
        place kat{at.document, child(at.pointer, key), at.base};
        if (k_single.contains(key)) {
            index(*it, kat, depth + 1);
        } else if (k_array.contains(key) && it->is_array()) {
            for (std::size_t i = 0; i < it->size(); ++i)
                index((*it)[i], {at.document, child(kat.pointer, i), at.base}, depth + 1);
        } else if (k_object.contains(key) && it->is_object()) {
            for (auto c = it->begin(); c != it->end(); ++c)
                index(*c, {at.document, child(kat.pointer, c.key()), at.base}, depth + 1);
        }
    }
}

const json* schema_set::compiler::document_for(const std::string& uri) {
    if (auto r = set.resources_.find(uri); r != set.resources_.end()) return r->second;
    if (!set.loader_) return nullptr;
    auto doc = set.loader_(uri);
    if (!doc) return nullptr;
    set.add_document(uri, std::move(*doc));
    auto& added = set.documents_.back();
    index(added.second, {uri, "", uri}, 0);
    auto r = set.resources_.find(uri);
    return r == set.resources_.end() ? nullptr : r->second;
}

std::optional<node_id> schema_set::compiler::resolve_ref(std::string_view ref, const place& at, std::size_t depth) {
    auto abs = resolve_uri(at.base, ref);
    auto [uri_view, frag] = split_fragment(abs);
    std::string uri(uri_view);
    const json* target = document_for(uri);
    if (!target) {
        refuse(at, "$ref", "cannot resolve \"" + abs + "\" (only this document, its $id resources and sibling files)");
        return std::nullopt;
    }
    place tat;
    if (auto p = resource_place_.find(target); p != resource_place_.end()) {
        tat = {p->second.first, p->second.second, uri};
    } else {
        tat = {uri, "", uri};
    }
    if (frag.empty()) return compile(*target, tat, depth + 1);
    if (frag.front() != '/') {
        auto a = set.anchors_.find(uri + "#" + std::string(frag));
        if (a == set.anchors_.end()) {
            refuse(at, "$ref", "no $anchor \"" + std::string(frag) + "\" in " + uri);
            return std::nullopt;
        }
        // The anchor's own pointer is not recorded; diagnostics inside it name the $ref's place.
        place aat{at.document, at.pointer, a->second.second};
        return compile(*a->second.first, aat, depth + 1);
    }
    // A JSON pointer from the resource, following $id changes of base on the way.
    std::string decoded = util::percent_decoded(frag);
    const json* cur = target;
    std::size_t pos = 1;
    while (pos <= decoded.size()) {
        auto end = decoded.find('/', pos);
        if (end == std::string::npos) end = decoded.size();
        std::string token;
        for (std::size_t i = pos; i < end; ++i) {
            if (decoded[i] == '~' && i + 1 < end && (decoded[i + 1] == '0' || decoded[i + 1] == '1')) {
                token += decoded[i + 1] == '0' ? '~' : '/';
                ++i;
            } else {
                token += decoded[i];
            }
        }
        const json* next = nullptr;
        if (cur->is_object()) {
            if (auto f = cur->find(token); f != cur->end()) next = &*f;
        } else if (cur->is_array() && !token.empty() && token.find_first_not_of("0123456789") == std::string::npos &&
                   token.size() < 10) {
            auto i = std::stoul(token);
            if (i < cur->size()) next = &(*cur)[i];
        }
        if (!next) {
            refuse(at, "$ref", "\"" + abs + "\" points at nothing");
            return std::nullopt;
        }
        cur = next;
        tat.pointer = child(tat.pointer, token);
        if (cur->is_object() && end < decoded.size()) {
            if (auto id = cur->find("$id"); id != cur->end() && id->is_string())
                tat.base = std::string(split_fragment(resolve_uri(tat.base, id->get<std::string>())).first);
        }
        pos = end + 1;
    }
    return compile(*cur, tat, depth + 1);
}

std::shared_ptr<const re2::RE2> schema_set::compiler::regex(const json& v, const place& at, std::string_view keyword) {
    re2::RE2::Options o;
    o.set_log_errors(false);
    o.set_encoding(re2::RE2::Options::EncodingUTF8);
    auto text = ecma_to_re2(v.get<std::string>());
    auto re = std::make_shared<const re2::RE2>(text, o);
    if (!re->ok()) {
        refuse(at, keyword,
               "pattern is not supported by RE2 (linear-time matching: no lookaround, no backreferences): " +
                   re->error());
        return nullptr;
    }
    return re;
}

namespace {

// The property table, and `required` for the evaluator's one pass over an object's members
// (schema_node.hpp).
void index_required(schema_set::node& n) {
    n.index_properties();
    n.property_required_bits.assign(n.properties.size(), 0);
    n.required_mask = 0;
    n.required_by_properties = !n.required.empty() && n.required.size() <= 64;
    for (std::size_t j = 0; j < n.required.size() && n.required_by_properties; ++j) {
        auto i = n.find_property_index(n.required[j]);
        if (i == schema_set::node::k_no_property) {
            n.required_by_properties = false;
        } else {
            if (!n.property_required_bits[i]) n.property_required_bits[i] = std::uint64_t(1) << j;
            n.required_mask |= n.property_required_bits[i];
        }
    }
}

}  // namespace

std::optional<node_id> schema_set::compiler::compile(const json& s, const place& at, std::size_t depth) {
    if (auto c = set.compiled_.find(&s); c != set.compiled_.end()) return c->second;
    if (depth > k_max_schema_depth) {
        refuse(at, "", "schema nested deeper than " + std::to_string(k_max_schema_depth));
        return std::nullopt;
    }
    if (!s.is_object() && !s.is_boolean()) {
        refuse(at, "", "a schema must be an object or a boolean");
        return std::nullopt;
    }
    auto id = static_cast<node_id>(set.nodes_.size());
    set.compiled_.emplace(&s, id);
    set.nodes_.emplace_back();
    node n;
    n.pointer = at.pointer;
    if (s.is_boolean()) {
        n.what = s.get<bool>() ? node::kind::always_true : node::kind::always_false;
        set.nodes_[id] = std::move(n);
        return id;
    }
    n.what = node::kind::keywords;
    place here = at;
    if (auto idv = s.find("$id"); idv != s.end()) {
        if (!idv->is_string()) {
            refuse(at, "$id", "must be a string");
        } else {
            here.base = std::string(split_fragment(resolve_uri(at.base, idv->get<std::string>())).first);
        }
    }
    bool ok = true;
    for (auto it = s.begin(); it != s.end(); ++it) {
        place kat{here.document, child(here.pointer, it.key()), here.base};
        compile_keyword(n, it.key(), *it, here, kat, depth, ok);
    }
    if (!ok) return std::nullopt;
    std::sort(n.properties.begin(), n.properties.end());
    index_required(n);
    n.wants_annotations = n.unevaluated_items || n.unevaluated_properties;
    n.has_applicators = n.ref || !n.all_of.empty() || !n.any_of.empty() || !n.one_of.empty() || n.not_ || n.if_;
    set.nodes_[id] = std::move(n);
    return id;
}

void schema_set::compiler::compile_keyword(node& n, std::string_view key, const json& v, const place& here,
                                           const place& kat, std::size_t depth, bool& ok) {
    auto fail = [&](std::string reason) {
        refuse(kat, key, std::move(reason));
        ok = false;
    };
    auto one = [&](std::optional<node_id>& slot) {
        auto c = sub(v, kat, depth);
        if (!c) ok = false;
        slot = c;
    };
    auto list = [&](std::vector<node_id>& slot) {
        if (!v.is_array() || (v.empty() && key != "prefixItems")) return fail("must be a non-empty array of schemas");
        for (std::size_t i = 0; i < v.size(); ++i) {
            auto c = sub(v[i], {kat.document, child(kat.pointer, i), kat.base}, depth);
            if (!c) ok = false;
            slot.push_back(c.value_or(0));
        }
    };
    auto count = [&](std::optional<std::uint64_t>& slot) {
        slot = non_negative_integer(v);
        if (!slot) fail("must be a non-negative integer");
    };
    auto number = [&](std::optional<double>& slot) {
        if (!v.is_number()) return fail("must be a number");
        slot = v.get<double>();
    };
    auto strings = [&](std::vector<std::string>& slot) {
        if (!v.is_array()) return fail("must be an array of strings");
        for (auto& e : v) {
            if (!e.is_string()) return fail("must be an array of strings");
            slot.push_back(e.get<std::string>());
        }
    };

    if (key == "type") {
        auto add = [&](const json& t) {
            auto b = t.is_string() ? type_bits(t.get<std::string>()) : std::nullopt;
            if (!b) return fail("unknown type");
            n.types |= *b;
        };
        if (v.is_array()) {
            for (auto& t : v) add(t);
        } else {
            add(v);
        }
    } else if (key == "const") {
        n.const_value = json_tape::tape::from(v);
    } else if (key == "enum") {
        if (!v.is_array()) return fail("must be an array");
        n.enum_values = json_tape::tape::from(v);
    } else if (key == "multipleOf") {
        number(n.multiple_of);
        if (n.multiple_of && !(*n.multiple_of > 0)) fail("must be greater than 0");
    } else if (key == "maximum") {
        number(n.maximum);
    } else if (key == "exclusiveMaximum") {
        number(n.exclusive_maximum);
    } else if (key == "minimum") {
        number(n.minimum);
    } else if (key == "exclusiveMinimum") {
        number(n.exclusive_minimum);
    } else if (key == "maxLength") {
        count(n.max_length);
    } else if (key == "minLength") {
        count(n.min_length);
    } else if (key == "maxItems") {
        count(n.max_items);
    } else if (key == "minItems") {
        count(n.min_items);
    } else if (key == "maxContains") {
        count(n.max_contains);
    } else if (key == "minContains") {
        count(n.min_contains);
    } else if (key == "maxProperties") {
        count(n.max_properties);
    } else if (key == "minProperties") {
        count(n.min_properties);
    } else if (key == "uniqueItems") {
        if (!v.is_boolean()) return fail("must be a boolean");
        n.unique_items = v.get<bool>();
    } else if (key == "pattern") {
        if (!v.is_string()) return fail("must be a string");
        n.pattern = regex(v, kat, key);
        if (!n.pattern) ok = false;
    } else if (key == "required") {
        strings(n.required);
    } else if (key == "dependentRequired") {
        if (!v.is_object()) return fail("must be an object of string arrays");
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!it->is_array()) return fail("must be an object of string arrays");
            std::vector<std::string> names;
            for (auto& e : *it) {
                if (!e.is_string()) return fail("must be an object of string arrays");
                names.push_back(e.get<std::string>());
            }
            n.dependent_required.emplace_back(it.key(), std::move(names));
        }
    } else if (key == "properties" || key == "dependentSchemas" || key == "patternProperties" || key == "$defs") {
        if (!v.is_object()) return fail("must be an object of schemas");
        for (auto it = v.begin(); it != v.end(); ++it) {
            place cat{kat.document, child(kat.pointer, it.key()), kat.base};
            auto c = sub(*it, cat, depth);
            if (!c) {
                ok = false;
                continue;
            }
            if (key == "properties") {
                n.properties.emplace_back(it.key(), *c);
            } else if (key == "dependentSchemas") {
                n.dependent_schemas.emplace_back(it.key(), *c);
            } else if (key == "patternProperties") {
                auto re = regex(json(it.key()), cat, key);
                if (!re) ok = false;
                n.pattern_properties.emplace_back(std::move(re), *c);
            }
        }
    } else if (key == "additionalProperties") {
        one(n.additional_properties);
    } else if (key == "propertyNames") {
        one(n.property_names);
    } else if (key == "unevaluatedProperties") {
        one(n.unevaluated_properties);
    } else if (key == "items") {
        one(n.items);
    } else if (key == "contains") {
        one(n.contains);
    } else if (key == "unevaluatedItems") {
        one(n.unevaluated_items);
    } else if (key == "not") {
        one(n.not_);
    } else if (key == "if") {
        one(n.if_);
    } else if (key == "then") {
        one(n.then_);
    } else if (key == "else") {
        one(n.else_);
    } else if (key == "prefixItems") {
        list(n.prefix_items);
    } else if (key == "allOf") {
        list(n.all_of);
    } else if (key == "anyOf") {
        list(n.any_of);
    } else if (key == "oneOf") {
        list(n.one_of);
    } else if (key == "$ref") {
        if (!v.is_string()) return fail("must be a string");
        n.ref = resolve_ref(v.get<std::string>(), kat, depth);
        if (!n.ref) ok = false;
    } else if (key == "$schema") {
        if (!v.is_string() || (v.get<std::string>() != k_dialect_2020_12 && v.get<std::string>() != k_dialect_oas_3_1))
            fail(std::string("only the dialects ") + std::string(k_dialect_2020_12) + " and " +
                 std::string(k_dialect_oas_3_1) + " are supported");
    } else if (key == "$anchor" || key == "$dynamicAnchor") {
        if (!v.is_string()) fail("must be a string");
    } else if (k_annotations.contains(key)) {
        // Annotations: nothing to evaluate.
    } else if (set.dialect_.openapi && (k_openapi_annotations.contains(key) || key.starts_with("x-"))) {
        // OpenAPI's own annotations and extensions.
    } else if (key == "$dynamicRef" || key == "$recursiveRef" || key == "$vocabulary") {
        fail("not supported by gatehouse's validator (docs/middleware.md, \"openapi\")");
    } else {
        fail("unknown keyword (a keyword gatehouse does not evaluate is refused, not ignored)");
    }
    (void)here;
}

schema_set::schema_set(dialect d, document_loader loader) : dialect_(d), loader_(std::move(loader)) {}
schema_set::~schema_set() = default;
schema_set::schema_set(schema_set&&) noexcept = default;
schema_set& schema_set::operator=(schema_set&&) noexcept = default;

void schema_set::add_document(const std::string& uri, json doc) {
    documents_.emplace_back(uri, std::move(doc));
    resources_.emplace(uri, &documents_.back().second);
}

std::optional<std::uint32_t> schema_set::compile(const std::string& uri, std::string_view pointer,
                                                 std::vector<schema_diagnostic>& diagnostics) {
    compiler c{*this, diagnostics, {}};
    const json* doc = nullptr;
    for (auto& [u, d] : documents_)
        if (u == uri) doc = &d;
    if (!doc) {
        diagnostics.push_back({uri, std::string(pointer), "", "no such document"});
        return std::nullopt;
    }
    c.index(*doc, {uri, "", uri}, 0);
    auto at = resolve_uri(uri, "#" + std::string(pointer));
    auto before = diagnostics.size();
    auto id = c.resolve_ref(at, {uri, std::string(pointer), uri}, 0);
    if (diagnostics.size() != before) return std::nullopt;
    return id;
}

}  // namespace gatehouse::openapi
