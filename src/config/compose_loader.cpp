#include "config/compose_loader.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "compose/graph.hpp"
#include "compose/reference.hpp"
#include "compose/shape.hpp"
#include "gatehouse/http/fields.hpp"
#include "util/text.hpp"

namespace gatehouse::config {

namespace {

using namespace gatehouse::compose;

// Call names go into a structured header (Gatehouse-Partial) and metric labels: a token.
bool valid_call_name(const std::string& n) {
    if (n.empty() || n.size() > 64 || !std::isalpha(static_cast<unsigned char>(n[0]))) return false;
    return std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

bool unsafe_method(const std::string& m) { return m != "GET" && m != "HEAD" && m != "OPTIONS"; }

// A YAML body template as JSON: a quoted scalar is a string, a plain one what it reads as.
nlohmann::json json_of(const YAML::Node& n) {
    if (n.IsMap()) {
        auto o = nlohmann::json::object();
        for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = json_of(it->second);
        return o;
    }
    if (n.IsSequence()) {
        auto a = nlohmann::json::array();
        for (const auto& e : n) a.push_back(json_of(e));
        return a;
    }
    if (n.IsNull()) return nullptr;
    const auto& s = n.Scalar();
    if (n.Tag() != "!") {
        if (s == "true" || s == "false") return s == "true";
        auto j = nlohmann::json::parse(s, nullptr, false);
        if (!j.is_discarded() && j.is_number()) return j;
    }
    return s;
}

struct compose_reader {
    diagnostics& d;
    const std::vector<std::string>& path_variables;

    // The references of a template: {path.X} must be a variable of the route's template.
    bool check_refs(const std::vector<reference>& refs, const YAML::Node& at, const std::string& where) {
        for (auto& ref : refs) {
            if (ref.from != source::path) continue;
            if (std::find(path_variables.begin(), path_variables.end(), ref.name) != path_variables.end()) continue;
            d.error(mark_of(at), where, "{path." + ref.name + "}: the route's match.path_template has no such variable");
            return false;
        }
        return true;
    }

    void path(map_reader& r, call_config& c) {
        auto p = r.string("path");
        if (!p) {
            d.error(c.mark, r.child_path("path"), "required (the path and query the call requests)");
            return;
        }
        std::string error;
        auto t = parse_template(*p, error);
        if (!t) return r.error("path", error);
        for (auto& part : *t)
            if (!part.ref && (part.literal.find_first_of(" #\t\r\n") != std::string::npos))
                return r.error("path", "must not contain spaces, '#' or control characters");
        if (t->empty() || t->front().ref || t->front().literal.front() != '/') return r.error("path", "must start with '/'");
        c.path_text = *p;
        c.path = std::move(*t);
        if (!check_refs(references_of(c), r.get("path"), r.child_path("path"))) c.path.clear();
    }

    void fields(const YAML::Node& n, const std::string& where, fields_rule& f) {
        map_reader r(n, where, d, {"allow", "deny", "rename"});
        if (!r.ok()) return;
        if (auto a = r.string_list("allow")) f.allow = *a;
        if (auto a = r.string_list("deny")) f.deny = *a;
        if (!f.allow.empty() && !f.deny.empty()) d.error(mark_of(n), where, "use allow or deny, not both");
        if (r.has("rename")) {
            auto rn = r.get("rename");
            if (!rn.IsMap()) r.error("rename", "expected a mapping of field to new name");
            else
                for (auto it = rn.begin(); it != rn.end(); ++it) {
                    auto to = scalar_of(it->second, r.child_path("rename") + "." + it->first.Scalar(), d);
                    if (to && !to->empty()) f.rename.emplace_back(it->first.Scalar(), *to);
                }
        }
        r.finish();
    }

    void body(map_reader& r, call_config& c) {
        auto n = r.get("body");
        if (n.IsScalar() && n.Scalar() == "client") {
            c.body.k = body_config::kind::client;
        } else if (n.IsMap() || n.IsSequence()) {
            c.body.k = body_config::kind::json;
            c.body.json = json_of(n);
            call_config probe;
            probe.body = c.body;
            if (!check_refs(references_of(probe), n, r.child_path("body"))) return;
            // Strings with a malformed reference: parse every one again to name it.
            std::string error;
            std::vector<const nlohmann::json*> stack{&c.body.json};
            while (!stack.empty()) {
                const auto* v = stack.back();
                stack.pop_back();
                if (v->is_string() && !parse_template(v->get<std::string>(), error)) return r.error("body", error);
                if (v->is_structured())
                    for (const auto& e : *v) stack.push_back(&e);
            }
        } else {
            return r.error("body", "expected client (the client's body) or a JSON object built from references");
        }
        if (!unsafe_method(c.method)) r.error("body", "a " + c.method + " call sends no body: set method (POST, PUT, PATCH)");
    }

    void foreach(const YAML::Node& n, const std::string& where, call_config& c) {
        map_reader r(n, where, d, {"over", "max", "concurrency"});
        if (!r.ok()) return;
        foreach_config f;
        std::string error;
        if (auto o = r.string("over")) {
            auto ref = parse_reference(*o, error);
            if (!ref) r.error("over", error);
            else if (ref->from != source::call) r.error("over", "must name an array in another call's response (CALL.FIELD)");
            else f.over = std::move(*ref);
        } else {
            d.error(mark_of(n), where + ".over", "required (CALL.FIELD, an array)");
        }
        if (auto m = r.integer("max", 1, 1000)) f.max = static_cast<std::size_t>(*m);
        if (auto m = r.integer("concurrency", 1, 64)) f.concurrency = static_cast<std::size_t>(*m);
        r.finish();
        if (!f.over.name.empty()) c.foreach = std::move(f);
    }

    std::optional<call_config> call(const YAML::Node& n, const std::string& where) {
        map_reader r(n, where, d,
                     {"name", "upstream", "method", "path", "required", "status_from", "into", "select", "fields", "timeout", "forward",
                      "merge", "body", "foreach", "cache"});
        if (!r.ok()) return std::nullopt;
        call_config c;
        c.mark = mark_of(n);
        if (auto s = r.string("name"); s && valid_call_name(*s)) c.name = *s;
        else if (s) r.error("name", "a call name starts with a letter and holds letters, digits, '_' and '-'");
        else d.error(c.mark, where + ".name", "required");
        if (auto s = r.string("upstream"); s && !s->empty()) c.upstream = *s;
        else d.error(c.mark, where + ".upstream", "required");
        if (auto m = r.string("method")) {
            if (!http::is_token(*m) || std::any_of(m->begin(), m->end(), [](unsigned char ch) { return std::islower(ch); })) r.error("method", "expected an upper-case method such as GET or POST");
            else c.method = *m;
        }
        path(r, c);
        if (auto b = r.boolean("required")) c.required = *b;
        if (auto b = r.boolean("status_from")) c.status_from = *b;
        if (c.status_from && !c.required) r.error("status_from", "only a required call's status can become the answer's");
        if (auto s = r.string("into")) {
            if (s->empty()) r.error("into", "must not be empty (leave it out to merge at the root)");
            c.into = *s;
        }
        std::string error;
        if (auto s = r.string("select")) {
            if (auto p = parse_json_path(*s, error)) c.select = std::move(*p);
            else r.error("select", error);
        }
        if (r.has("fields")) fields(r.get("fields"), r.child_path("fields"), c.fields);
        if (auto t = r.duration_value("timeout")) {
            if (t->count() <= 0) r.error("timeout", "must be positive");
            else c.timeout = *t;
        }
        if (auto f = r.string_list("forward"))
            for (auto& h : *f) {
                if (auto why = http::field_name_problem(h, true)) r.error("forward", why);
                else if (http::is_proxy_owned(h)) r.error("forward", "'" + h + "': framing and connection fields are the proxy's");
                else c.forward.push_back(util::ascii_lower(h));
            }
        if (auto m = r.string("merge")) {
            if (*m == "append") c.merge = merge_mode::append;
            else if (*m != "replace") r.error("merge", "must be replace or append");
            if (c.merge == merge_mode::append && c.into.empty()) r.error("merge", "append needs `into`: the key whose arrays are joined");
        }
        if (r.has("body")) body(r, c);
        if (r.has("foreach")) foreach(r.get("foreach"), r.child_path("foreach"), c);
        if (auto cache = r.boolean("cache")) {
            c.cache = *cache;
            if (c.cache && c.method != "GET") r.error("cache", "only GET calls are cached (the response cache stores GET answers)");
        }
        r.finish();
        return c;
    }

    void calls(const YAML::Node& n, const std::string& where, compose_config& cc) {
        if (!n.IsSequence() || n.size() == 0) return d.error(mark_of(n), where, "expected a list of calls");
        if (n.size() > k_max_calls) return d.error(mark_of(n), where, "at most " + std::to_string(k_max_calls) + " calls");
        std::set<std::string> names;
        std::vector<YAML::Node> nodes;
        for (std::size_t i = 0; i < n.size(); ++i) {
            auto c = call(n[i], where + "[" + std::to_string(i) + "]");
            if (!c) continue;
            if (!c->name.empty() && !names.insert(c->name).second)
                d.error(c->mark, where + "[" + std::to_string(i) + "].name", "duplicate call name '" + c->name + "'");
            cc.calls.push_back(std::move(*c));
            nodes.push_back(n[i]);
        }
        const auto unsafe = std::count_if(cc.calls.begin(), cc.calls.end(), [](auto& c) { return unsafe_method(c.method); });
        if (unsafe > 1) d.error(mark_of(n), where, "at most one call may use a method other than GET, HEAD and OPTIONS");
        for (auto& p : link_calls(cc.calls)) d.error(cc.calls[p.call].mark, where + "[" + std::to_string(p.call) + "]", p.message);
        mark_spliced(cc.calls);
        warn_shared_root_keys(where, cc);
    }

    // Two calls merged at the root that keep the same field: the later one in the list wins,
    // which is deterministic but rarely meant.
    void warn_shared_root_keys(const std::string& where, const compose_config& cc) {
        std::vector<std::pair<std::string, std::size_t>> seen;
        for (std::size_t i = 0; i < cc.calls.size(); ++i) {
            const auto& c = cc.calls[i];
            if (!c.into.empty()) continue;
            for (auto name : c.fields.allow) {
                for (auto& [from, to] : c.fields.rename)
                    if (from == name) name = to;
                auto it = std::find_if(seen.begin(), seen.end(), [&](auto& s) { return s.first == name; });
                if (it != seen.end())
                    d.warning(c.mark, where + "[" + std::to_string(i) + "]",
                              "writes '" + name + "' at the root like call '" + cc.calls[it->second].name +
                                  "' (the later call wins): give one of them `into`");
                else seen.emplace_back(name, i);
            }
        }
    }
};

}  // namespace

std::shared_ptr<const compose_config> read_compose(const YAML::Node& n, const std::string& path, diagnostics& d,
                                                   const std::vector<std::string>& path_variables) {
    map_reader r(n, path, d, {"max_body", "max_total", "max_depth", "worker_memory", "errors", "calls"});
    if (!r.ok()) return nullptr;
    auto cc = std::make_shared<compose_config>();
    if (auto v = r.size_value("max_body")) {
        if (*v == 0 || *v > (64u << 20)) r.error("max_body", "from 1 byte to 64MiB");
        else cc->max_body = *v;
    }
    if (auto v = r.size_value("max_total")) {
        if (*v == 0 || *v > (256u << 20)) r.error("max_total", "from 1 byte to 256MiB");
        else cc->max_total = *v;
    }
    if (auto v = r.size_value("worker_memory")) {
        if (*v == 0) r.error("worker_memory", "must be positive");
        else cc->worker_memory = *v;
    }
    if (auto v = r.integer("max_depth", 1, 256)) cc->max_depth = static_cast<std::size_t>(*v);
    if (auto e = r.string("errors")) {
        if (*e == "none") cc->errors_summary = false;
        else if (*e != "summary") r.error("errors", "must be summary (an \"_errors\" member) or none");
    }
    compose_reader cr{d, path_variables};
    if (r.has("calls")) cr.calls(r.get("calls"), r.child_path("calls"), *cc);
    else d.error(mark_of(n), path + ".calls", "required (the calls whose responses make the answer)");
    r.finish();
    return cc;
}

}  // namespace gatehouse::config
