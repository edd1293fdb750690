#include "config/tracing_loader.hpp"

#include <cstdlib>
#include <fstream>

#include "config/resilience_loader.hpp"
#include "util/text.hpp"

namespace gatehouse::config {

bool expand_env(const std::string& in, std::string& out, std::string& missing) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in.compare(i, 3, "$${") == 0) {
            out += "${";
            i += 2;
            continue;
        }
        if (in.compare(i, 2, "${") != 0) {
            out += in[i];
            continue;
        }
        auto close = in.find('}', i + 2);
        if (close == std::string::npos) {
            missing = in.substr(i);
            return false;
        }
        auto name = in.substr(i + 2, close - i - 2);
        const char* v = name.empty() ? nullptr : std::getenv(name.c_str());
        if (!v) {
            missing = name;
            return false;
        }
        out += v;
        i = close;
    }
    return true;
}

namespace {

// http(s)://host[:port][/path].
bool read_endpoint(map_reader& r, otlp_config& o) {
    auto s = r.string("endpoint");
    if (!s) return false;
    o.endpoint = *s;
    o.https = s->starts_with("https://");
    if (!o.https && !s->starts_with("http://")) {
        r.error("endpoint", "expected an http:// or https:// URL, such as http://otel-collector:4318/v1/traces");
        return false;
    }
    auto rest = s->substr(o.https ? 8 : 7);
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    o.target = slash == std::string::npos ? "/v1/traces" : rest.substr(slash);
    const auto host = util::host_without_port(authority);
    o.host = std::string(host);
    if (!o.host.empty() && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
    o.port = host.size() < authority.size() ? authority.substr(host.size() + 1) : std::string(o.https ? "443" : "80");
    if (o.host.empty() || o.port.empty() || o.port.find_first_not_of("0123456789") != std::string::npos) {
        r.error("endpoint", "expected http(s)://host:port/path, found '" + *s + "'");
        return false;
    }
    return true;
}

// tls: { ca, sni } for an https:// endpoint, in the style of upstreams[].tls.
void read_tls(map_reader& parent, otlp_config& o) {
    map_reader t(parent.get("tls"), parent.child_path("tls"), parent.diags(), {"ca", "sni"});
    if (!t.ok()) return;
    if (!o.https && !o.endpoint.empty()) parent.error("tls", "tls applies to an https:// endpoint only");
    if (auto v = t.string("ca")) {
        o.tls_ca = *v;
        if (!std::ifstream(*v).good()) t.error("ca", "cannot read '" + *v + "'");
    }
    if (auto v = t.string("sni")) o.tls_sni = *v;
    t.finish();
}

// A mapping of strings (headers, resource attributes), with ${VAR} resolved when `env`.
std::vector<std::pair<std::string, std::string>> read_pairs(map_reader& parent, const std::string& key, bool env) {
    std::vector<std::pair<std::string, std::string>> out;
    auto n = parent.get(key);
    const auto path = parent.child_path(key);
    auto& d = parent.diags();
    if (!n.IsMap()) {
        d.error(mark_of(n), path, "expected a mapping of names to strings");
        return out;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
        auto name = it->first.as<std::string>();
        auto v = scalar_of(it->second, path + "." + name, d);
        if (!v) continue;
        std::string value = *v, missing;
        if (env && !expand_env(*v, value, missing)) {
            d.error(mark_of(it->second), path + "." + name, "environment variable '" + missing + "' is not set");
            continue;
        }
        out.emplace_back(std::move(name), std::move(value));
    }
    return out;
}

void read_batch(map_reader& parent, otlp_config& o) {
    map_reader b(parent.get("batch"), parent.child_path("batch"), parent.diags(), {"max_queue", "max_batch", "delay"});
    if (!b.ok()) return;
    if (auto v = b.integer("max_queue", 1, 1'000'000)) o.max_queue = static_cast<std::size_t>(*v);
    if (auto v = b.integer("max_batch", 1, 1'000'000)) o.max_batch = static_cast<std::size_t>(*v);
    if (auto v = b.duration_value("delay")) {
        if (v->count() <= 0) b.error("delay", "must be more than 0");
        else o.delay = *v;
    }
    b.finish();
}

void read_otlp(map_reader& t, otlp_config& o) {
    map_reader r(t.get("otlp"), t.child_path("otlp"), t.diags(), {"endpoint", "encoding", "headers", "timeout", "batch", "resource", "tls"});
    if (!r.ok()) return;
    if (!r.has("endpoint")) t.error("otlp", "otlp.endpoint is required");
    else read_endpoint(r, o);
    if (auto e = r.string("encoding")) {
        if (*e == "protobuf") o.encoding = otlp_config::encoding_kind::protobuf;
        else if (*e == "json") o.encoding = otlp_config::encoding_kind::json;
        else r.error("encoding", "expected protobuf or json, found '" + *e + "'");
    }
    if (r.has("headers")) o.headers = read_pairs(r, "headers", true);
    if (r.has("resource")) o.resource = read_pairs(r, "resource", true);
    if (auto v = r.duration_value("timeout")) {
        if (v->count() <= 0) r.error("timeout", "must be more than 0");
        else o.timeout = *v;
    }
    if (r.has("batch")) read_batch(r, o);
    if (r.has("tls")) read_tls(r, o);
    r.finish();
}

}  // namespace

void read_tracing(const YAML::Node& n, diagnostics& d, tracing_config& out) {
    map_reader t(n, "tracing", d, {"generate", "sample", "otlp"});
    if (!t.ok()) return;
    if (auto g = t.boolean("generate")) out.generate = *g;
    if (t.has("sample"))
        if (auto s = read_share(t, "sample")) out.sample = *s;
    if (t.has("otlp")) {
        otlp_config o;
        read_otlp(t, o);
        out.otlp = std::move(o);
    }
    t.finish();
}

}  // namespace gatehouse::config
