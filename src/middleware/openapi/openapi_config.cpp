// The openapi middleware's config: the top-level `openapi:` list of spec files (each loaded and
// compiled at load, so `gatehouse check` reports a refusal at the spec's own file:line:col) and
// a route's `openapi:` entry. The spec files are watched: a change reloads the config, and a
// spec that no longer loads keeps the last good config serving (the reload fails, logged).
#include <map>
#include <mutex>

#include "middleware/common.hpp"
#include "middleware/openapi/openapi.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "observability/metrics.hpp"
#include "util/identity_registry.hpp"
#include "util/read_file.hpp"

namespace gatehouse::middleware::openapi_mw {

namespace {

util::identity_registry<route_counts> counts_registry;
std::mutex keep_mu;
std::vector<std::shared_ptr<route_counts>> keep;  // counters live as long as the process

// One load of a spec file per config load: the section's check and every route that uses it
// share it (keyed by path and content, so an edited file is loaded again).
struct loaded_spec {
    std::string content;
    std::shared_ptr<const gatehouse::openapi::api_spec> api;
    std::vector<std::string> errors;
};
std::mutex specs_mu;
std::map<std::string, loaded_spec> specs;

const loaded_spec& load(const std::string& path) {
    auto content = util::read_file(path).value_or(std::string());
    std::lock_guard lock(specs_mu);
    auto& s = specs[path];
    if (s.api && s.content == content) return s;
    if (!s.api && !s.errors.empty() && s.content == content) return s;
    s.content = std::move(content);
    s.errors.clear();
    try {  // control plane: a library exception is a diagnostic, never a crash of `check` or a reload
        s.api = gatehouse::openapi::load_api_spec(path, s.errors);
    } catch (const std::exception& e) {
        s.api = nullptr;
        s.errors.push_back(path + ": " + e.what());
    }
    return s;
}

struct section_entry {
    std::string name, file;
    YAML::Node node;
};

std::vector<section_entry> read_section(const YAML::Node& section, const std::string& path, config::diagnostics& d) {
    std::vector<section_entry> out;
    if (!section.IsSequence()) {
        d.error(mark(section), path, "expected a list of { name: NAME, spec: FILE }");
        return out;
    }
    for (std::size_t i = 0; i < section.size(); ++i) {
        std::string ep = path + "[" + std::to_string(i) + "]";
        config::map_reader r(section[i], ep, d, {"name", "spec"});
        auto name = r.string("name");
        auto file = r.string("spec");
        if (!name || name->empty()) d.error(mark(section[i]), ep + ".name", "required");
        if (!file || file->empty()) d.error(mark(section[i]), ep + ".spec", "required: the OpenAPI file (YAML or JSON)");
        for (auto& e : out)
            if (name && e.name == *name) r.error("name", "a second spec named '" + *name + "'");
        if (name && file) out.push_back({*name, *file, section[i]["spec"]});
        r.finish();
    }
    return out;
}

void report(const loaded_spec& s, const YAML::Node& at, const std::string& path, config::diagnostics& d) {
    for (auto& e : s.errors) d.error(mark(at), path, e);
}

void validate_section(const YAML::Node& section, const std::string& path, config::diagnostics& d) {
    for (auto& e : read_section(section, path, d)) report(load(e.file), e.node, path + ".spec", d);
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                               const YAML::Node& root) {
    auto spec = std::make_shared<openapi_spec>();
    config::map_reader r(n, path, d, {"spec", "server_base", "request", "response", "unmatched", "max_body", "max_depth", "max_steps"});
    if (!r.ok()) return nullptr;
    if (auto name = r.string("spec")) {
        config::diagnostics ignored;
        bool found = false;
        for (auto& e : read_section(root["openapi"], "openapi", ignored)) {
            if (e.name != *name) continue;
            found = true;
            spec->spec_name = e.name;
            spec->watched_files.push_back(e.file);
            auto& s = load(e.file);
            spec->api = s.api;  // its errors are reported once, at the openapi: entry
            if (!s.api && s.errors.empty()) r.error("spec", "the spec '" + *name + "' did not load");
        }
        if (!found) r.error("spec", "no openapi entry named '" + *name + "'");
    } else {
        d.error(mark(n), path + ".spec", "required: the name of an openapi: entry");
    }
    if (auto b = r.string("server_base")) {
        if (!b->starts_with('/') || (b->size() > 1 && b->ends_with('/'))) r.error("server_base", "a path such as /v1 (no trailing '/')");
        else if (*b != "/") spec->server_base = *b;
    }
    if (r.has("request")) {
        config::map_reader q(r.get("request"), r.child_path("request"), d, {"parameters", "body", "unknown_query_parameters"});
        if (auto v = q.boolean("parameters")) spec->parameters = *v;
        if (auto v = q.boolean("body")) spec->body = *v;
        if (auto v = q.string("unknown_query_parameters")) {
            if (*v == "reject") spec->reject_unknown_query = true;
            else if (*v != "pass") q.error("unknown_query_parameters", "pass or reject");
        }
        q.finish();
    }
    if (r.has("response")) {
        config::map_reader q(r.get("response"), r.child_path("response"), d, {"body"});
        if (auto v = q.string("body")) {
            if (*v == "report") spec->report_responses = true;
            else if (*v == "enforce") spec->report_responses = spec->enforce_responses = true;
            else if (*v != "off") q.error("body", "off, report or enforce");
        }
        q.finish();
    }
    if (r.has("unmatched")) {
        auto u = r.get("unmatched");
        auto text = u.IsScalar() ? u.Scalar() : std::string();
        if (text == "404") spec->unmatched = 404;
        else if (text == "405") spec->unmatched = 405;
        else if (text == "pass") spec->unmatched = 0;
        else r.error("unmatched", "404, 405 or pass");
    }
    if (auto v = r.size_value("max_body")) {
        if (*v == 0 || *v > request_context::k_max_held_body)
            r.error("max_body", "between 1 and " + std::to_string(request_context::k_max_held_body) +
                                    " bytes: the body is held in memory while it is validated");
        else spec->max_body = *v;
    }
    if (auto v = r.integer("max_depth", 1, 512)) spec->max_depth = static_cast<std::size_t>(*v);
    if (auto v = r.integer("max_steps", 100, 100'000'000)) spec->max_steps = static_cast<std::size_t>(*v);
    r.finish();
    auto owner = owner_of(path, root);
    spec->counts = counts_registry.get(owner, [&] {
        auto c = std::make_shared<route_counts>();
        c->route = owner;
        return c;
    });
    std::lock_guard lock(keep_mu);
    if (std::find(keep.begin(), keep.end(), spec->counts) == keep.end()) keep.push_back(spec->counts);
    return spec;
}

}  // namespace

void route_counts::bump(std::array<std::atomic<std::uint64_t>, k_keywords.size()>& a, std::string_view keyword) {
    for (std::size_t i = 0; i < k_keywords.size(); ++i)
        if (k_keywords[i] == keyword) {
            a[i].fetch_add(1, std::memory_order_relaxed);
            return;
        }
    a.back().fetch_add(1, std::memory_order_relaxed);  // "other"
}

namespace {

template <class Member>
std::vector<observability::metrics::sample> samples(Member member) {
    std::vector<observability::metrics::sample> out;
    for (auto& c : counts_registry.all())
        for (std::size_t i = 0; i < k_keywords.size(); ++i)
            if (auto v = ((*c).*member)[i].load(std::memory_order_relaxed))
                out.push_back({{{"route", c->route}, {"keyword", std::string(k_keywords[i])}}, static_cast<double>(v)});
    return out;
}

}  // namespace

void add_metrics(observability::metrics& m) {
    m.add_counter_family("gatehouse_openapi_rejections_total",
                         "Requests refused by the openapi middleware, by route and by the keyword of each error",
                         [] { return samples(&route_counts::by_keyword); });
    m.add_counter_family("gatehouse_openapi_response_errors_total",
                         "Errors in upstream responses that do not match the spec (response.body: report), by route and keyword",
                         [] { return samples(&route_counts::responses); });
}

std::vector<std::pair<std::string, std::shared_ptr<const gatehouse::openapi::api_spec>>> specs_in_use(
    const config::gateway_config& cfg) {
    std::vector<std::pair<std::string, std::shared_ptr<const gatehouse::openapi::api_spec>>> out;
    for (auto& r : cfg.routes)
        for (auto& m : r.middleware) {
            if (m->type != "openapi") continue;
            auto& s = static_cast<const openapi_spec&>(*m);
            bool known = std::any_of(out.begin(), out.end(), [&](auto& p) { return p.first == s.spec_name; });
            if (s.api && !known) out.emplace_back(s.spec_name, s.api);
        }
    return out;
}

void register_openapi() {
    config::register_middleware_type("openapi", parse);
    config::register_config_section("openapi", validate_section);
}

}  // namespace gatehouse::middleware::openapi_mw
