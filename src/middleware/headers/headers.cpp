// headers: rules that set, add and remove header fields on the request sent upstream and on the
// response sent to the client. Values may use ${client_ip}, ${request_id}, ${host} and ${route},
// and {path.NAME} for a variable of the route's match.path_template, checked at config load.
// `set` replaces every field of that name (the client's or the upstream's), `add` appends one
// more, `remove` drops them all.
#include "config/path_template.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "middleware/common.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware {

namespace {

// A value with variables, split at config load into literal and variable parts.
struct value_template {
    enum class var { none, client_ip, request_id, host, route, path };  // path: text is the variable's name
    std::vector<std::pair<var, std::string>> parts;
    bool constant() const {
        for (auto& [v, text] : parts)
            if (v != var::none) return false;
        return true;
    }
    // Needs a view that is gone once on_request returns (the rest live until on_complete).
    bool uses_request_views() const {
        for (auto& [v, text] : parts)
            if (v == var::client_ip || v == var::host || v == var::path) return true;
        return false;
    }
    std::string expand(const request_context& ctx) const {
        std::string out;
        expand_into(ctx, out);
        return out;
    }
    void expand_into(const request_context& ctx, std::string& out) const {
        out.clear();
        for (auto& [v, text] : parts) switch (v) {
                case var::none: out += text; break;
                case var::client_ip: out += ctx.client_address; break;
                case var::request_id: out += ctx.request_id; break;
                case var::host: out += ctx.host; break;
                case var::route: out += ctx.route; break;
                case var::path:
                    if (auto value = ctx.path_vars.find(text)) out += *value;
                    break;
            }
    }
};

// `path_vars`: the route's template variables (null: not on a route). A '{' that does not start
// {path. is literal, as it was before path variables existed.
std::optional<value_template> parse_template(const std::string& text, const std::vector<std::string>* path_vars, std::string& error) {
    value_template t;
    std::size_t i = 0;
    while (i < text.size()) {
        auto at = text.find("${", i);
        auto ref = text.find("{path.", i);
        if (ref != std::string::npos && (at == std::string::npos || ref < at)) {
            if (ref > i) t.parts.emplace_back(value_template::var::none, text.substr(i, ref - i));
            auto name = config::parse_path_reference(text, ref, path_vars, i, error);
            if (!name) return std::nullopt;
            t.parts.emplace_back(value_template::var::path, std::move(*name));
            continue;
        }
        if (at == std::string::npos) {
            t.parts.emplace_back(value_template::var::none, text.substr(i));
            break;
        }
        if (at > i) t.parts.emplace_back(value_template::var::none, text.substr(i, at - i));
        auto end = text.find('}', at);
        if (end == std::string::npos) {
            error = "unterminated ${ in '" + text + "'";
            return std::nullopt;
        }
        auto name = text.substr(at + 2, end - at - 2);
        value_template::var v;
        if (name == "client_ip") v = value_template::var::client_ip;
        else if (name == "request_id") v = value_template::var::request_id;
        else if (name == "host") v = value_template::var::host;
        else if (name == "route") v = value_template::var::route;
        else if (name.starts_with("path.")) {
            error = "${" + name + "}: path variables are written {" + name + "}, without '$'";
            return std::nullopt;
        } else {
            error = "unknown variable ${" + name + "}";
            if (auto g = config::did_you_mean(name, {"client_ip", "request_id", "host", "route"}); !g.empty())
                error += " (did you mean ${" + g + "}?)";
            return std::nullopt;
        }
        t.parts.emplace_back(v, std::string());
        i = end + 1;
    }
    return t;
}

struct rule {
    enum class op { set, add, remove } what = op::set;
    std::string name;  // lower-case
    value_template value;
};

struct side {
    std::vector<rule> rules;
    bool variables = false;  // a value needs the request
    // Response side: a value needs ${client_ip} or ${host}, whose views end with on_request, so
    // the values are expanded then and kept; ${request_id} and ${route} live until the end of the
    // request and are expanded straight into the response head.
    bool keep_values = false;
};

struct headers_spec final : config::middleware_spec {
    side request, response;
    std::shared_ptr<const middleware> build(build_services&, config::diagnostics&) const override;
};

// Header names a rule may not touch: framing and connection management belong to the proxy.
bool reserved(std::string_view name) { return http::is_proxy_owned(name); }

struct reached {};  // per-request marker: on_request ran for this request

class headers final : public middleware {
public:
    explicit headers(headers_spec s) : spec_(std::move(s)) {
        for (auto& r : spec_.response.rules)
            if (r.value.constant()) constant_.push_back(r.value.expand(request_context_for_constants()));
            else constant_.emplace_back();
    }

    verdict on_request(request_context& ctx, local_reply&) const override {
        for (auto& r : spec_.request.rules) {
            if (r.what != rule::op::add) ctx.remove_upstream_header(r.name);
            if (r.what == rule::op::remove) continue;
            auto v = r.value.expand(ctx);
            if (valid_header_value(v)) ctx.add_upstream_header(r.name, std::move(v));
        }
        if (spec_.response.variables && !spec_.response.keep_values) ctx.state<reached>();  // expanded at the response
        if (spec_.response.keep_values) {
            // The request's views are gone by the time the response head is written.
            auto& values = ctx.state<std::vector<std::string>>();
            for (auto& r : spec_.response.rules) values.push_back(r.value.constant() ? std::string() : r.value.expand(ctx));
        }
        return verdict::next;
    }

    void on_response_headers(request_context& ctx, response_edit& edit) const override {
        auto* values = spec_.response.keep_values ? ctx.find_state<std::vector<std::string>>() : nullptr;
        for (std::size_t i = 0; i < spec_.response.rules.size(); ++i) {
            auto& r = spec_.response.rules[i];
            if (r.what != rule::op::add) {
                edit.remove.push_back(r.name);
                edit.add.remove_if([&](auto& h) { return http::iequals(h.first, r.name); });  // set by middleware after us, too
            }
            if (r.what == rule::op::remove) continue;
            if (r.value.constant()) edit.add.emplace_back(r.name, constant_[i]);
            else if (values) edit.add.emplace_back(r.name, (*values)[i]);
            else if (!spec_.response.keep_values && ctx.find_state<reached>())
                r.value.expand_into(ctx, edit.add.emplace_back(r.name).second);
            // else: the request never reached us (an earlier middleware answered)
        }
    }

private:
    static const request_context& request_context_for_constants() {
        static const request_context empty;
        return empty;
    }
    headers_spec spec_;
    std::vector<std::string> constant_;
};

std::shared_ptr<const middleware> headers_spec::build(build_services&, config::diagnostics&) const {
    return std::make_shared<headers>(*this);
}

void parse_side(const YAML::Node& n, const std::string& path, config::diagnostics& d, const std::vector<std::string>* path_vars,
                side& out) {
    config::map_reader r(n, path, d, {"set", "add", "remove"});
    if (!r.ok()) return;
    for (auto [key, what] : {std::pair{"set", rule::op::set}, std::pair{"add", rule::op::add}}) {
        if (!r.has(key)) continue;
        auto m = r.get(key);
        if (!m.IsMap()) {
            r.error(key, "expected a mapping of header name to value");
            continue;
        }
        for (auto it = m.begin(); it != m.end(); ++it) {
            auto name = it->first.Scalar();
            auto p = r.child_path(key) + "." + name;
            if (!is_header_name(name)) {
                d.error(mark(it->first), p, "not a header name");
                continue;
            }
            if (reserved(util::ascii_lower(name))) {
                d.error(mark(it->first), p, "framing and connection fields are the proxy's: not settable");
                continue;
            }
            if (!it->second.IsScalar()) {
                d.error(mark(it->second), p, "expected a string value");
                continue;
            }
            std::string error;
            auto t = parse_template(it->second.Scalar(), path_vars, error);
            if (!t) {
                d.error(mark(it->second), p, error);
                continue;
            }
            bool literal_ok = true;
            for (auto& [v, text] : t->parts) literal_ok = literal_ok && valid_header_value(text);
            if (!literal_ok) {
                d.error(mark(it->second), p, "control characters in a header value");
                continue;
            }
            out.variables = out.variables || !t->constant();
            out.keep_values = out.keep_values || t->uses_request_views();
            out.rules.push_back({what, util::ascii_lower(name), std::move(*t)});
        }
    }
    if (auto l = r.string_list("remove"))
        for (auto& name : *l) {
            if (!is_header_name(name)) r.error("remove", "'" + name + "' is not a header name");
            else if (reserved(util::ascii_lower(name))) r.error("remove", "'" + name + "': framing and connection fields are the proxy's");
            else out.rules.push_back({rule::op::remove, util::ascii_lower(name), {}});
        }
    r.finish();
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                               const YAML::Node& root) {
    auto spec = std::make_shared<headers_spec>();
    config::map_reader r(n, path, d, {"request", "response"});
    if (!r.ok()) return nullptr;
    const auto path_vars = route_path_variables(path, root);
    const auto* vars = path_vars ? &*path_vars : nullptr;
    if (r.has("request")) parse_side(r.get("request"), r.child_path("request"), d, vars, spec->request);
    if (r.has("response")) parse_side(r.get("response"), r.child_path("response"), d, vars, spec->response);
    if (!r.has("request") && !r.has("response")) d.error(mark(n), path, "needs request, response or both");
    r.finish();
    return spec;
}

}  // namespace

void register_headers() { config::register_middleware_type("headers", parse); }

}  // namespace gatehouse::middleware
