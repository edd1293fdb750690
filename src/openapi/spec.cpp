// Loading an OpenAPI description: the document and its sibling files, OAS 3.0's schema dialect
// normalised onto 2020-12, parameters and request bodies resolved through $ref, every schema
// compiled, every refusal reported at its own file:line:col.
#include "openapi/spec.hpp"

#include <algorithm>
#include <deque>

#include "openapi/schema_node.hpp"
#include "openapi/uri.hpp"
#include "router/path_template.hpp"
#include "util/text.hpp"
#include "util/percent.hpp"

namespace gatehouse::openapi {
namespace {

constexpr std::size_t k_max_ref_hops = 16;
constexpr std::array<std::string_view, 8> k_methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

// OAS 3.0's schema object as 2020-12 says it: nullable: true adds "null" to `type` (and to
// `enum`), a boolean exclusiveMaximum/exclusiveMinimum takes the bound's value, `example` is an
// annotation, and what stands beside a $ref is ignored, as 3.0 says. Applied to every object of
// the document (the operator's, bounded in depth when read).
void normalise_3_0(json& j) {
    std::vector<json*> todo{&j};
    while (!todo.empty()) {
        json* n = todo.back();
        todo.pop_back();
        if (n->is_array()) {
            for (auto& e : *n) todo.push_back(&e);
            continue;
        }
        if (!n->is_object()) continue;
        if (auto r = n->find("$ref"); r != n->end() && r->is_string() && n->size() > 1) {
            json ref = *r;
            *n = json::object({{"$ref", std::move(ref)}});
            continue;
        }
        if (auto nl = n->find("nullable"); nl != n->end() && nl->is_boolean()) {
            bool nullable = nl->get<bool>();
            n->erase(nl);
            if (nullable) {
                if (auto t = n->find("type"); t != n->end() && t->is_string()) *t = json::array({*t, "null"});
                if (auto e = n->find("enum"); e != n->end() && e->is_array() && std::find(e->begin(), e->end(), json(nullptr)) == e->end())
                    e->push_back(nullptr);
            }
        }
        for (auto [ex, bound] : {std::pair{"exclusiveMaximum", "maximum"}, std::pair{"exclusiveMinimum", "minimum"}}) {
            auto e = n->find(ex);
            if (e == n->end() || !e->is_boolean()) continue;
            bool exclusive = e->get<bool>();
            n->erase(e);
            if (auto b = n->find(bound); exclusive && b != n->end()) {
                (*n)[ex] = *b;
                n->erase(bound);
            }
        }
        for (auto& [k, v] : n->items()) todo.push_back(&v);
    }
}

std::uint8_t types_of(const json* schema) {
    if (!schema || !schema->is_object()) return 0;
    auto t = schema->find("type");
    if (t == schema->end()) return 0;
    std::uint8_t bits = 0;
    auto add = [&](const json& v) {
        if (!v.is_string()) return;
        auto s = v.get<std::string>();
        if (s == "array") bits |= t_array;
        if (s == "object") bits |= t_object;
        if (s == "integer") bits |= t_integer;
        if (s == "number") bits |= t_number;
        if (s == "boolean") bits |= t_boolean;
        if (s == "string") bits |= t_string;
        if (s == "null") bits |= t_null;
    };
    if (t->is_array())
        for (auto& v : *t) add(v);
    else
        add(*t);
    return bits;
}

using document_store = std::deque<spec_document>;

// The document of a file:// URI: loaded once (and normalised for 3.0), kept for its marks.
const spec_document* load_document(document_store& docs, int version, const std::string& uri, std::string& error) {
    for (auto& d : docs)
        if (d.uri == uri) return &d;
    auto path = uri_path(uri);
    if (path.empty()) {
        error = "only file references are followed (" + uri + ")";
        return nullptr;
    }
    auto d = load_spec_document(path, error);
    if (!d) return nullptr;
    if (version == 30) normalise_3_0(d->doc);
    docs.push_back(std::move(*d));
    return &docs.back();
}

struct loader {
    api_spec& spec;
    std::shared_ptr<document_store> docs;
    std::vector<std::string>& errors;

    // A located node: the document it is in and its pointer there.
    struct located {
        const json* node = nullptr;
        const spec_document* doc = nullptr;
        std::string pointer;
    };

    void error(const spec_document& d, const std::string& pointer, const std::string& what) {
        errors.push_back(d.where(pointer) + ": " + (pointer.empty() ? "" : pointer + ": ") + what);
    }

    const spec_document* document(const std::string& uri, std::string& why) {
        return load_document(*docs, spec.version, uri, why);
    }

    located follow(located at);
    void read_parameter(located p, operation& op);
    void read_body(located b, operation& op);
    std::vector<media_type> read_content(const located& owner);
    void read_responses(const located& o, operation& op);
    void read_operation(const located& item, const std::string& method, path_item& pi);
    std::optional<std::uint32_t> compile(const spec_document& d, const std::string& pointer);
    void run();
};

// Follows $ref (local and sibling-file) from a parameter, request body or schema object.
loader::located loader::follow(located at) {
    for (std::size_t hop = 0; hop < k_max_ref_hops; ++hop) {
        if (!at.node->is_object()) return at;
        auto r = at.node->find("$ref");
        if (r == at.node->end() || !r->is_string()) return at;
        auto abs = resolve_uri(at.doc->uri, r->get<std::string>());
        auto [uri, frag] = split_fragment(abs);
        std::string why;
        const spec_document* d = document(std::string(uri), why);
        if (!d) {
            error(*at.doc, at.pointer + "/$ref", "cannot resolve \"" + abs + "\": " + why);
            return {};
        }
        auto pointer = util::percent_decoded(frag);
        const json* n = nullptr;
        try {
            n = &d->doc.at(json::json_pointer(pointer));
        } catch (const json::exception&) {
            error(*at.doc, at.pointer + "/$ref", "\"" + abs + "\" points at nothing");
            return {};
        }
        at = {n, d, pointer};
    }
    error(*at.doc, at.pointer, "more than " + std::to_string(k_max_ref_hops) + " $ref hops");
    return {};
}


std::optional<param_style> style_of(std::string_view s) {
    if (s == "simple") return param_style::simple;
    if (s == "label") return param_style::label;
    if (s == "matrix") return param_style::matrix;
    if (s == "form") return param_style::form;
    if (s == "spaceDelimited") return param_style::space_delimited;
    if (s == "pipeDelimited") return param_style::pipe_delimited;
    if (s == "deepObject") return param_style::deep_object;
    return std::nullopt;
}

bool style_allowed(param_in in, param_style st) {
    switch (in) {
        case param_in::path: return st == param_style::simple || st == param_style::label || st == param_style::matrix;
        case param_in::query:
            return st == param_style::form || st == param_style::space_delimited || st == param_style::pipe_delimited ||
                   st == param_style::deep_object;
        case param_in::header: return st == param_style::simple;
        case param_in::cookie: return st == param_style::form;
    }
    return false;
}

std::optional<std::uint32_t> loader::compile(const spec_document& d, const std::string& pointer) {
    std::vector<schema_diagnostic> diags;
    auto id = spec.schemas.compile(d.uri, pointer, diags);
    for (auto& x : diags) {
        std::string why;
        const spec_document* in = document(x.document, why);
        const spec_document& where = in ? *in : d;
        error(where, x.pointer, (x.keyword.empty() ? "" : x.keyword + ": ") + x.reason);
    }
    return id;
}

void loader::read_parameter(located at, operation& op) {
    auto p = follow(at);
    if (!p.node) return;
    if (!p.node->is_object()) return error(*p.doc, p.pointer, "a parameter must be an object");
    auto& o = *p.node;
    parameter par;
    par.pointer = p.pointer;
    auto name = o.find("name");
    auto in = o.find("in");
    if (name == o.end() || !name->is_string() || in == o.end() || !in->is_string())
        return error(*p.doc, p.pointer, "a parameter needs a name and `in`");
    par.name = name->get<std::string>();
    auto where = in->get<std::string>();
    if (where == "path")
        par.in = param_in::path;
    else if (where == "query")
        par.in = param_in::query;
    else if (where == "header")
        par.in = param_in::header, par.name = util::ascii_lower(par.name);
    else if (where == "cookie")
        par.in = param_in::cookie;
    else
        return error(*p.doc, p.pointer + "/in", "must be path, query, header or cookie");
    par.style = par.in == param_in::path || par.in == param_in::header ? param_style::simple : param_style::form;
    if (auto st = o.find("style"); st != o.end()) {
        auto v = st->is_string() ? style_of(st->get<std::string>()) : std::nullopt;
        if (!v || !style_allowed(par.in, *v))
            return error(*p.doc, p.pointer + "/style", "style not allowed for a parameter in " + where);
        par.style = *v;
    }
    par.explode = par.style == param_style::form;
    if (auto ex = o.find("explode"); ex != o.end() && ex->is_boolean()) par.explode = ex->get<bool>();
    if (auto rq = o.find("required"); rq != o.end() && rq->is_boolean()) par.required = rq->get<bool>();
    if (par.in == param_in::path) par.required = true;
    if (auto ar = o.find("allowReserved"); ar != o.end() && ar->is_boolean() && ar->get<bool>())
        return error(*p.doc, p.pointer + "/allowReserved", "not supported by gatehouse's validator");
    if (auto sc = o.find("schema"); sc != o.end()) {
        par.schema = compile(*p.doc, p.pointer + "/schema");
        auto s = follow({&*sc, p.doc, p.pointer + "/schema"});
        par.types = types_of(s.node);
        if (s.node && s.node->is_object())
            if (auto items = s.node->find("items"); items != s.node->end())
                par.item_types = types_of(follow({&*items, s.doc, s.pointer + "/items"}).node);
    } else if (auto ct = o.find("content"); ct != o.end() && ct->is_object() && ct->size() == 1) {
        if (ct->begin().key() != "application/json" && !ct->begin().key().ends_with("+json"))
            return error(*p.doc, p.pointer + "/content", "only a JSON media type is supported for a parameter");
        par.json_content = true;
        if (ct->begin()->contains("schema")) par.schema = compile(*p.doc, p.pointer + "/content/" + escape_pointer_token(ct->begin().key()) + "/schema");
    } else {
        return error(*p.doc, p.pointer, "a parameter needs a schema or one content media type");
    }
    if (par.in == param_in::query && par.style == param_style::form && par.explode && (par.types & t_object) &&
        !par.json_content)
        return error(*p.doc, p.pointer, "an exploded form-style object (its properties as query parameters of their own) is not supported; use style: deepObject or explode: false");
    // An operation's parameter replaces the path item's of the same name and location.
    auto same = std::find_if(op.parameters.begin(), op.parameters.end(),
                             [&](const parameter& q) { return q.name == par.name && q.in == par.in; });
    if (same != op.parameters.end())
        *same = std::move(par);
    else
        op.parameters.push_back(std::move(par));
}

void loader::read_body(located at, operation& op) {
    auto b = follow(at);
    if (!b.node) return;
    if (!b.node->is_object()) return error(*b.doc, b.pointer, "a request body must be an object");
    op.has_body = true;
    if (auto rq = b.node->find("required"); rq != b.node->end() && rq->is_boolean()) op.body_required = rq->get<bool>();
    auto content = b.node->find("content");
    if (content == b.node->end() || !content->is_object()) return error(*b.doc, b.pointer, "a request body needs content");
    op.body = read_content(b);
}

// A content map's media types, JSON ones with their schema compiled (other media types, forms or
// binary, are matched but their bodies not checked).
std::vector<media_type> loader::read_content(const located& owner) {
    std::vector<media_type> out;
    auto content = owner.node->find("content");
    if (content == owner.node->end() || !content->is_object()) return out;
    for (auto it = content->begin(); it != content->end(); ++it) {
        media_type m;
        m.type = util::ascii_lower(it.key());
        if (it->is_object() && it->contains("schema")) {
            bool json_type = m.type == "application/json" || m.type.ends_with("+json") || m.type == "*/*" ||
                             m.type == "application/*";
            if (json_type) m.schema = compile(*owner.doc, owner.pointer + "/content/" + escape_pointer_token(it.key()) + "/schema");
        }
        out.push_back(std::move(m));
    }
    return out;
}

void loader::read_responses(const located& o, operation& op) {
    auto rs = o.node->find("responses");
    if (rs == o.node->end() || !rs->is_object()) return;
    for (auto it = rs->begin(); it != rs->end(); ++it) {
        auto r = follow({&*it, o.doc, o.pointer + "/responses/" + escape_pointer_token(it.key())});
        if (!r.node || !r.node->is_object()) continue;
        op.responses.push_back({it.key(), read_content(r)});
    }
}

void loader::read_operation(const located& item, const std::string& method, path_item& pi) {
    operation op;
    for (char c : method) op.method += static_cast<char>(c - 'a' + 'A');
    located o{&(*item.node)[method], item.doc, item.pointer + "/" + method};
    if (!o.node->is_object()) return error(*o.doc, o.pointer, "an operation must be an object");
    for (const located* level : {&item, static_cast<const located*>(&o)}) {
        auto ps = level->node->find("parameters");
        if (ps == level->node->end()) continue;
        if (!ps->is_array()) {
            error(*level->doc, level->pointer + "/parameters", "must be a list");
            continue;
        }
        for (std::size_t i = 0; i < ps->size(); ++i)
            read_parameter({&(*ps)[i], level->doc, level->pointer + "/parameters/" + std::to_string(i)}, op);
    }
    if (auto rb = o.node->find("requestBody"); rb != o.node->end()) read_body({&*rb, o.doc, o.pointer + "/requestBody"}, op);
    read_responses(o, op);
    for (auto& par : op.parameters) {
        if (par.in != param_in::path) continue;
        bool declared = std::any_of(pi.segments.begin(), pi.segments.end(), [&](const config::template_segment& s) {
            return s.what == config::template_segment::kind::variable && s.text == par.name;
        });
        if (!declared) error(*o.doc, par.pointer, "path parameter \"" + par.name + "\" is not in the path " + pi.text);
    }
    pi.operations.push_back(std::move(op));
}

std::optional<std::vector<config::template_segment>> path_segments(std::string_view text, std::string& why) {
    std::vector<config::template_segment> out;
    if (!text.starts_with('/')) {
        why = "a path starts with '/'";
        return std::nullopt;
    }
    std::size_t variables = 0;
    std::size_t pos = 1;
    while (pos <= text.size()) {
        auto end = text.find('/', pos);
        if (end == std::string_view::npos) end = text.size();
        auto seg = text.substr(pos, end - pos);
        config::template_segment s;
        if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}' &&
            seg.substr(1, seg.size() - 2).find_first_of("{}") == std::string_view::npos) {
            s.what = config::template_segment::kind::variable;
            s.text = std::string(seg.substr(1, seg.size() - 2));
            if (++variables > router::k_max_path_variables) {
                why = "more than " + std::to_string(router::k_max_path_variables) + " path parameters";
                return std::nullopt;
            }
        } else if (seg.find_first_of("{}") != std::string_view::npos) {
            why = "a path parameter must be a whole segment (\"/files/{name}\", not \"/files/{name}.{ext}\")";
            return std::nullopt;
        } else {
            s.text = std::string(seg);
        }
        if (!(seg.empty() && end == text.size() && !out.empty())) out.push_back(std::move(s));
        pos = end + 1;
    }
    return out;
}

void loader::run() {
    const spec_document& root = docs->front();
    auto paths = root.doc.find("paths");
    if (paths == root.doc.end() || !paths->is_object()) {
        if (root.doc.contains("webhooks")) return;
        return error(root, "", "no paths");
    }
    for (auto it = paths->begin(); it != paths->end(); ++it) {
        std::string ptr = "/paths/" + escape_pointer_token(it.key());
        path_item pi;
        pi.text = it.key();
        std::string why;
        auto segs = path_segments(pi.text, why);
        if (!segs) {
            error(root, ptr, why);
            continue;
        }
        pi.segments = std::move(*segs);
        located item = follow({&*it, &root, ptr});
        if (!item.node) continue;
        if (!item.node->is_object()) {
            error(*item.doc, item.pointer, "a path item must be an object");
            continue;
        }
        for (auto m : k_methods)
            if (item.node->contains(std::string(m))) read_operation(item, std::string(m), pi);
        spec.paths.push_back(std::move(pi));
    }
    // A concrete path wins over a template that also fits (OAS 3.x, "Path Templating Matching").
    std::stable_sort(spec.paths.begin(), spec.paths.end(), [](const path_item& a, const path_item& b) {
        auto vars = [](const path_item& p) {
            return std::count_if(p.segments.begin(), p.segments.end(),
                                 [](auto& s) { return s.what != config::template_segment::kind::literal; });
        };
        return vars(a) < vars(b);
    });
}

}  // namespace

const response_spec* operation::response_for(int status) const {
    auto code = std::to_string(status);
    std::string range = code.substr(0, 1) + "XX";
    const response_spec* in_range = nullptr;
    const response_spec* fallback = nullptr;
    for (auto& r : responses) {
        if (r.code == code) return &r;
        if (r.code == range) in_range = &r;
        if (r.code == "default") fallback = &r;
    }
    return in_range ? in_range : fallback;
}

const path_item* api_spec::find_path(std::string_view path, router::path_variables& vars) const {
    for (auto& p : paths)
        if (router::match_path_template(p.segments, path, vars)) return &p;
    return nullptr;
}

std::shared_ptr<const api_spec> load_api_spec(const std::string& path, std::vector<std::string>& errors) {
    auto docs = std::make_shared<document_store>();
    std::string why;
    auto first = load_spec_document(path, why);
    if (!first) {
        errors.push_back(why);
        return nullptr;
    }
    auto spec = std::make_shared<api_spec>();
    spec->file = path;
    auto version = first->doc.is_object() ? first->doc.find("openapi") : first->doc.end();
    std::string v = version != first->doc.end() && version->is_string() ? version->get<std::string>() : "";
    if (v.starts_with("3.0.")) {
        spec->version = 30;
    } else if (v.starts_with("3.1.")) {
        spec->version = 31;
    } else {
        errors.push_back(first->where("/openapi") + ": /openapi: not an OpenAPI 3.0 or 3.1 document");
        return nullptr;
    }
    spec->document = first->doc;
    if (spec->version == 30) normalise_3_0(first->doc);
    docs->push_back(std::move(*first));
    int ver = spec->version;
    // Sibling files that schemas $ref: loaded into the same store, for their marks.
    spec->schemas = schema_set(dialect{.openapi = true}, [docs, ver](const std::string& uri) -> std::optional<json> {
        std::string ignored;
        auto d = load_document(*docs, ver, uri, ignored);
        if (!d) return std::nullopt;
        return d->doc;
    });
    spec->schemas.add_document(docs->front().uri, docs->front().doc);
    loader l{*spec, docs, errors};
    l.run();
    if (!errors.empty()) return nullptr;
    return spec;
}

}  // namespace gatehouse::openapi
