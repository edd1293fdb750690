// YAML -> typed config, collecting every problem with its line and column.
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "gatehouse/config/config.hpp"
#include "gatehouse/http/fields.hpp"
#include "config/compose_loader.hpp"
#include "config/transcode_loader.hpp"
#include "config/path_template.hpp"
#include "config/resilience_loader.hpp"
#include "config/tracing_loader.hpp"
#include "yaml_reader.hpp"
#include "util/read_file.hpp"
#include "util/text.hpp"

namespace gatehouse::config {

namespace {

constexpr std::size_t k_max_config_bytes = 1 << 20;

using http::is_token;
using http::field_name_problem;

bool has_ctl(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

// Host names in matches and rewrites: lower-case letters, digits, '-', '.', optionally "*." first.
bool valid_host_pattern(std::string_view h, bool allow_wildcard) {
    if (allow_wildcard && h.starts_with("*.")) h.remove_prefix(2);
    if (h.empty() || h.size() > 253) return false;
    return std::all_of(h.begin(), h.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']'; });
}

std::string addr_text(const host_port& hp) {
    return (hp.host.find(':') != std::string::npos ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

struct loader {
    diagnostics& d;
    gateway_config cfg;
    YAML::Node root_;

    void top(const YAML::Node& root) {
        std::vector<std::string> keys{"workers", "admin",     "probes",     "reload",  "listeners", "limits",    "drain",
                                      "routes",  "upstreams", "access_log", "metrics", "tracing",   "event_loop"};
        for (auto& s : config_section_names()) keys.push_back(s);
        root_ = root;
        map_reader r(root, "", d, keys);
        if (!r.ok()) return;
        for (auto& s : config_section_names())
            if (r.has(s)) (*find_config_section(s))(r.get(s), s, d);
        if (auto w = r.string("workers")) {
            if (*w == "auto") cfg.workers = 0;
            else if (auto n = r.integer("workers", 1, 256)) cfg.workers = static_cast<unsigned>(*n);
        }
        if (r.has("admin")) admin(r.get("admin"));
        if (r.has("probes")) probes(r.get("probes"));
        if (r.has("reload")) reload(r.get("reload"));
        if (r.has("access_log")) access_log(r.get("access_log"));
        if (r.has("metrics")) {
            map_reader m(r.get("metrics"), "metrics", d, {"enabled"});
            if (auto e = m.boolean("enabled")) cfg.metrics.enabled = *e;
            m.finish();
        }
        if (r.has("event_loop")) {
            map_reader e(r.get("event_loop"), "event_loop", d, {"batch_wait"});
            if (auto w = e.short_duration_value("batch_wait")) {
                if (*w > std::chrono::milliseconds(1)) e.error("batch_wait", "at most 1ms: each event a nap batches waits up to this long");
                else {
                    cfg.event_loop.batch_wait = *w;
                    cfg.event_loop.batch_wait_mark = mark_of(e.get("batch_wait"));
                }
            }
            e.finish();
        }
        if (r.has("tracing")) read_tracing(r.get("tracing"), d, cfg.tracing);
        listeners(r.get("listeners"));
        if (r.has("limits")) limits(r.get("limits"));
        if (r.has("drain")) drain(r.get("drain"));
        if (r.has("upstreams")) upstreams(r.get("upstreams"));
        if (r.has("routes")) routes(r.get("routes"));
        else d.error(mark_of(root), "routes", "at least one route is required");
        r.finish();
        check_references();
    }

    std::optional<host_port> address(map_reader& r, const std::string& key, bool must_be_ip) {
        auto s = r.string(key);
        if (!s) return std::nullopt;
        auto hp = parse_host_port(*s);
        if (!hp) {
            r.error(key, "expected host:port (or [ipv6]:port), found '" + *s + "'");
            return std::nullopt;
        }
        if (must_be_ip && !util::ip_address::parse(hp->host)) {
            r.error(key, "listen addresses must be IP addresses, found '" + hp->host + "'");
            return std::nullopt;
        }
        return hp;
    }

    void admin(const YAML::Node& n) {
        map_reader r(n, "admin", d, {"listen", "enabled", "auth", "tls"});
        if (!r.ok()) return;
        auto listen = address(r, "listen", true);
        if (listen) cfg.admin.listen = *listen;
        if (auto e = r.boolean("enabled")) cfg.admin.enabled = *e;
        if (r.has("auth")) admin_auth(r.get("auth"), r.child_path("auth"));
        if (r.has("tls")) {
            cfg.admin.tls = tls(r.get("tls"), r.child_path("tls"));
            const auto& t = cfg.admin.tls;
            if (t && (!t->subject_header.empty() || !t->sans_header.empty() || !t->fingerprint_header.empty()))
                r.error("tls", "identity_headers: the admin API forwards nothing");
        }
        r.finish();
        // A verified client certificate (admin.tls.client_ca) is authentication too.
        const bool mtls = cfg.admin.tls && !cfg.admin.tls->client_ca.empty();
        auto ip = util::ip_address::parse(cfg.admin.listen.host);
        auto loop4 = util::cidr::parse("127.0.0.0/8"), loop6 = util::cidr::parse("::1/128");
        if (listen && !r.has("auth") && !mtls && ip && !loop4->contains(*ip) && !loop6->contains(*ip))
            d.warning(mark_of(r.get("listen")), "admin.listen",
                      "the admin API is reachable from outside this host without authentication; anyone who can reach it "
                      "can reload and read config (set admin.auth.token_file or admin.tls.client_ca, and probes.listen for "
                      "health checks)");
    }

    // admin.auth.token_file: the token is the file's content less its trailing newline; read
    // here so that `check` and a reload refuse a missing or empty file at the key's position.
    void admin_auth(const YAML::Node& n, const std::string& path) {
        map_reader r(n, path, d, {"token_file"});
        if (!r.ok()) return;
        auto file = r.string("token_file");
        if (!file) {
            if (!r.has("token_file")) d.error(mark_of(n), path + ".token_file", "required (a file holding the bearer token)");
            r.finish();
            return;
        }
        admin_auth_config a;
        a.token_file = *file;
        auto text = file->empty() ? std::nullopt : util::read_file(*file);
        if (!text) {
            r.error("token_file", "cannot read '" + *file + "'");
        } else {
            std::string_view token(*text);
            while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.remove_suffix(1);
            if (token.empty()) r.error("token_file", "'" + *file + "' is empty: it must hold the bearer token");
            else if (!std::all_of(token.begin(), token.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; }))
                r.error("token_file", "'" + *file + "': the token must be one line of printable ASCII without spaces");
            else if (token.size() < 16)
                r.error("token_file", "'" + *file + "': the token is shorter than 16 characters (openssl rand -hex 32 makes a good one)");
            else a.token = std::string(token);
        }
        cfg.admin.auth = std::move(a);
        r.finish();
    }

    void probes(const YAML::Node& n) {
        map_reader r(n, "probes", d, {"listen"});
        if (!r.ok()) return;
        if (auto a = address(r, "listen", true)) cfg.probes = probes_config{*a, mark_of(r.get("listen"))};
        else if (!r.has("listen")) d.error(mark_of(n), "probes.listen", "required (for example 0.0.0.0:8081)");
        r.finish();
    }

    void access_log(const YAML::Node& n) {
        map_reader r(n, "access_log", d, {"enabled", "path", "format", "fields", "include_query", "sample", "rotate", "queue_size"});
        if (!r.ok()) return;
        auto& a = cfg.access_log;
        a.enabled = true;  // configuring it turns it on
        if (auto e = r.boolean("enabled")) a.enabled = *e;
        if (auto p = r.string("path")) {
            if (p->empty()) r.error("path", "must not be empty (stdout, stderr or a file)");
            else a.path = *p;
        }
        if (auto f = r.string("format")) {
            if (*f == "json") a.format = access_log_config::log_format::json;
            else if (*f == "text") a.format = access_log_config::log_format::text;
            else r.error("format", "must be json or text");
        }
        if (auto fs = r.string_list("fields")) {
            const auto& known = access_log_field_names();
            for (auto& f : *fs) {
                if (std::find(known.begin(), known.end(), f) == known.end()) {
                    std::string msg = "unknown access log field '" + f + "'";
                    if (auto g = did_you_mean(f, known); !g.empty()) msg += " (did you mean '" + g + "'?)";
                    r.error("fields", msg);
                } else {
                    a.fields.push_back(f);
                }
            }
        }
        if (auto q = r.boolean("include_query")) a.include_query = *q;
        if (auto s = r.string("sample")) {
            char* end = nullptr;
            double v = std::strtod(s->c_str(), &end);
            if (end == s->c_str() || *end != 0 || v < 0 || v > 1) r.error("sample", "must be a number from 0 to 1");
            else a.sample = v;
        }
        if (r.has("rotate")) {
            map_reader rr(r.get("rotate"), r.child_path("rotate"), d, {"max_size", "max_files"});
            if (auto v = rr.size_value("max_size")) a.rotate_max_size = *v;
            if (auto v = rr.integer("max_files", 1, 1000)) a.rotate_max_files = static_cast<std::uint64_t>(*v);
            rr.finish();
        }
        if (auto q = r.integer("queue_size", 16, 1 << 22)) a.queue_size = static_cast<std::uint64_t>(*q);
        r.finish();
    }

    void reload(const YAML::Node& n) {
        map_reader r(n, "reload", d, {"watch", "debounce"});
        if (!r.ok()) return;
        if (auto w = r.boolean("watch")) cfg.reload.watch = *w;
        if (auto v = r.duration_value("debounce")) cfg.reload.debounce = *v;
        r.finish();
    }

    void listeners(const YAML::Node& n) {
        if (!n.IsDefined() || n.IsNull()) {
            d.error({}, "listeners", "at least one listener is required");
            return;
        }
        if (!n.IsSequence()) {
            d.error(mark_of(n), "listeners", "expected a list of listeners");
            return;
        }
        std::set<std::string> names, addrs;
        for (std::size_t i = 0; i < n.size(); ++i) {
            std::string path = "listeners[" + std::to_string(i) + "]";
            map_reader r(n[i], path, d,
                         {"name", "listen", "trusted_proxies", "middleware", "tls", "redirect_https", "max_connections", "protocols",
                          "http2"});
            if (!r.ok()) continue;
            listener_config l;
            l.mark = mark_of(n[i]);
            l.name = r.string("name").value_or("listener" + std::to_string(i));
            if (!names.insert(l.name).second) r.error("name", "duplicate listener name '" + l.name + "'");
            if (auto a = address(r, "listen", true)) {
                l.listen = *a;
                auto key = a->host + ":" + std::to_string(a->port);
                if (a->port != 0 && !addrs.insert(key).second) r.error("listen", "another listener already uses " + key);
            } else if (!r.has("listen")) {
                d.error(l.mark, path + ".listen", "required");
            }
            if (auto tp = r.string_list("trusted_proxies")) {
                for (auto& c : *tp) {
                    if (auto block = util::cidr::parse(c)) l.trusted_proxies.push_back(*block);
                    else r.error("trusted_proxies", "not an IP address or CIDR block: '" + c + "'");
                }
            }
            if (auto v = r.integer("max_connections", 1, 10'000'000)) l.max_connections = static_cast<std::uint64_t>(*v);
            protocols(r, l);
            if (r.has("http2")) http2(r.get("http2"), r.child_path("http2"), l.http2);
            if (r.has("middleware")) l.middleware = middleware_list_of(r.get("middleware"), r.child_path("middleware"));
            if (r.has("tls")) l.tls = tls(r.get("tls"), r.child_path("tls"));
            if (l.tls) {
                l.tls->alpn.clear();
                if (l.h2 && l.h2_first) l.tls->alpn.push_back("h2");
                if (l.http1) l.tls->alpn.push_back("http/1.1");
                if (l.h2 && !l.h2_first) l.tls->alpn.push_back("h2");
            }
            if (r.has("redirect_https")) {
                map_reader h(r.get("redirect_https"), r.child_path("redirect_https"), d, {"port", "status"});
                if (auto p = h.integer("port", 1, 65535)) l.https_redirect_port = static_cast<std::uint16_t>(*p);
                else if (!h.has("port"))
                    d.error(mark_of(r.get("redirect_https")), r.child_path("redirect_https") + ".port", "required (the HTTPS port)");
                if (auto s = h.integer("status", 301, 308)) {
                    if (*s != 301 && *s != 302 && *s != 307 && *s != 308) h.error("status", "must be 301, 302, 307 or 308");
                    else l.https_redirect_status = static_cast<int>(*s);
                }
                h.finish();
                if (l.tls) r.error("redirect_https", "a TLS listener cannot redirect to HTTPS");
            }
            r.finish();
            cfg.listeners.push_back(std::move(l));
        }
        if (n.size() == 0) d.error(mark_of(n), "listeners", "at least one listener is required");
    }

    // listeners[].protocols: [h2, http1] (the default), [http1], [h2], [http1, h2].
    void protocols(map_reader& r, listener_config& l) {
        auto list = r.string_list("protocols");
        if (!list) return;
        l.h2 = l.http1 = false;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const auto& p = (*list)[i];
            bool& on = p == "h2" ? l.h2 : l.http1;
            if (p != "h2" && p != "http1") r.error("protocols", "unknown protocol '" + p + "' (h2 or http1)");
            else if (on) r.error("protocols", "'" + p + "' listed twice");
            else {
                on = true;
                if (i == 0) l.h2_first = p == "h2";
            }
        }
        if (!l.h2 && !l.http1) r.error("protocols", "at least one protocol (h2, http1) is required");
    }

    // HTTP/2 flow-control windows (listeners[].http2 and upstreams[].http2): RFC 9113 §6.9.2's bounds.
    static void windows(map_reader& r, std::uint32_t& stream, std::uint32_t& connection) {
        if (auto v = r.size_value("initial_stream_window")) {
            if (*v < 1024 || *v > 0x7fffffff) r.error("initial_stream_window", "must be between 1KiB and 2GiB - 1");
            else stream = static_cast<std::uint32_t>(*v);
        }
        if (auto v = r.size_value("connection_window")) {
            if (*v < 65535 || *v > 0x7fffffff) r.error("connection_window", "must be between 65535 bytes and 2GiB - 1");
            else connection = static_cast<std::uint32_t>(*v);
        }
    }

    void http2(const YAML::Node& n, const std::string& path, http2_config& h) {
        map_reader r(n, path, d,
                     {"max_concurrent_streams", "initial_stream_window", "connection_window", "max_frame_size", "stream_idle_timeout",
                      "max_requests_per_connection", "websocket"});
        if (!r.ok()) return;
        if (auto v = r.integer("max_concurrent_streams", 1, 10000)) h.max_concurrent_streams = static_cast<std::uint32_t>(*v);
        windows(r, h.initial_stream_window, h.connection_window);
        if (auto v = r.size_value("max_frame_size")) {
            if (*v < 16384 || *v > 16777215) r.error("max_frame_size", "must be between 16KiB and 16MiB - 1 (RFC 9113 §6.5.2)");
            else h.max_frame_size = static_cast<std::uint32_t>(*v);
        }
        if (auto v = r.duration_value("stream_idle_timeout")) h.stream_idle_timeout = *v;
        if (auto v = r.integer("max_requests_per_connection", 0, 1'000'000'000))
            h.max_requests_per_connection = static_cast<std::uint64_t>(*v);
        if (auto v = r.boolean("websocket")) h.websocket = *v;
        r.finish();
    }

    std::optional<listener_tls_config> tls(const YAML::Node& n, const std::string& path) {
        map_reader r(n, path, d,
                     {"certificates", "min_version", "ciphers", "ciphersuites", "client_ca", "client_auth", "identity_headers",
                      "handshake_timeout"});
        if (!r.ok()) return std::nullopt;
        listener_tls_config t;
        t.mark = mark_of(n);
        auto certs = r.get("certificates");
        if (!certs.IsSequence() || certs.size() == 0) {
            d.error(mark_of(n), path + ".certificates", "at least one { cert: FILE, key: FILE } is required");
        } else {
            for (std::size_t i = 0; i < certs.size(); ++i) {
                map_reader c(certs[i], r.child_path("certificates") + "[" + std::to_string(i) + "]", d, {"cert", "key"});
                auto cert = c.string("cert"), key = c.string("key");
                if (!cert || !key) d.error(mark_of(certs[i]), c.path(), "needs cert and key");
                else t.certificates.push_back({*cert, *key});
                c.finish();
            }
        }
        if (auto v = r.string("min_version")) {
            if (*v != "1.2" && *v != "1.3") r.error("min_version", "must be \"1.2\" or \"1.3\"");
            else t.min_version = *v;
        }
        if (auto v = r.string("ciphers")) t.ciphers = *v;
        if (auto v = r.string("ciphersuites")) t.ciphersuites = *v;
        if (auto v = r.string("client_ca")) t.client_ca = *v;
        if (auto v = r.string("client_auth")) {
            if (*v == "require") t.client_auth_required = true;
            else if (*v == "optional") t.client_auth_required = false;
            else r.error("client_auth", "must be require or optional");
            if (t.client_ca.empty()) r.error("client_auth", "needs client_ca");
        }
        if (r.has("identity_headers")) {
            map_reader h(r.get("identity_headers"), r.child_path("identity_headers"), d, {"subject", "sans", "fingerprint"});
            auto header = [&](const char* key, std::string& out) {
                if (auto v = h.string(key)) {
                    if (auto why = field_name_problem(*v, true)) h.error(key, why);
                    else out = util::ascii_lower(*v);
                }
            };
            header("subject", t.subject_header);
            header("sans", t.sans_header);
            header("fingerprint", t.fingerprint_header);
            h.finish();
        }
        if (auto v = r.duration_value("handshake_timeout")) t.handshake_timeout = *v;
        r.finish();
        return t;
    }

    void limits(const YAML::Node& n) {
        map_reader r(n, "limits", d,
                     {"max_header_bytes", "max_headers", "max_request_line", "max_body_bytes", "header_timeout", "body_timeout",
                      "body_min_rate", "idle_timeout", "request_timeout", "upstream_idle_timeout", "max_connections", "max_memory"});
        if (!r.ok()) return;
        auto& l = cfg.limits;
        if (auto v = r.size_value("max_memory")) {
            if (*v != 0 && *v < (1u << 20)) r.error("max_memory", "at least 1MiB (or 0: no limit)");
            else l.max_memory = *v;
        }
        if (auto v = r.size_value("max_header_bytes")) {
            if (*v < 256 || *v > (1 << 20)) r.error("max_header_bytes", "must be between 256 and 1MiB");
            else l.max_header_bytes = *v;
        }
        if (auto v = r.integer("max_headers", 1, 10000)) l.max_headers = static_cast<std::uint64_t>(*v);
        if (auto v = r.size_value("max_request_line")) {
            if (*v < 64 || *v > (1 << 20)) r.error("max_request_line", "must be between 64 and 1MiB");
            else l.max_request_line = *v;
        }
        if (auto v = r.size_value("max_body_bytes")) l.max_body_bytes = *v;
        if (auto v = r.integer("max_connections", 1, 10'000'000)) l.max_connections = static_cast<std::uint64_t>(*v);
        if (auto v = r.size_value("body_min_rate")) l.body_min_rate = *v;
        auto positive = [&](const char* key, duration& out) {
            if (auto v = r.duration_value(key)) {
                if (v->count() == 0) r.error(key, "must be greater than zero");
                else out = *v;
            }
        };
        positive("header_timeout", l.header_timeout);
        positive("body_timeout", l.body_timeout);
        positive("idle_timeout", l.idle_timeout);
        positive("request_timeout", l.request_timeout);
        positive("upstream_idle_timeout", l.upstream_idle_timeout);
        r.finish();
    }

    void drain(const YAML::Node& n) {
        map_reader r(n, "drain", d, {"delay", "timeout"});
        if (!r.ok()) return;
        if (auto v = r.duration_value("delay")) cfg.drain.delay = *v;
        if (auto v = r.duration_value("timeout")) cfg.drain.timeout = *v;
        r.finish();
    }

    void match(const YAML::Node& n, const std::string& path, match_config& m) {
        map_reader r(n, path, d, {"host", "path", "path_prefix", "path_regex", "path_template", "methods", "headers", "query"});
        if (!r.ok()) return;
        if (auto h = r.string("host")) {
            auto host = util::ascii_lower(*h);
            if (host.ends_with('.')) host.pop_back();
            if (!valid_host_pattern(host, true)) r.error("host", "not a host name or *.suffix pattern: '" + *h + "'");
            else m.host = host;
        }
        int kinds = 0;
        for (auto [key, kind] : {std::pair{"path", path_match::exact},
                                 {"path_prefix", path_match::prefix},
                                 {"path_regex", path_match::regex},
                                 {"path_template", path_match::path_template}}) {
            auto v = r.string(key);
            if (!v) continue;
            ++kinds;
            m.path_kind = kind;
            m.path = *v;
            if (kind != path_match::regex && (v->empty() || v->front() != '/')) r.error(key, "must start with '/'");
            if (kind == path_match::regex) {
                RE2 re(*v, RE2::Quiet);
                if (!re.ok()) r.error(key, "invalid regular expression: " + re.error());
            }
            if (kind == path_match::path_template && v->starts_with('/')) {
                std::string error;
                if (auto segs = parse_path_template(*v, error)) m.segments = std::move(*segs);
                else r.error(key, error);
            }
        }
        if (kinds > 1) d.error(mark_of(n), path, "use only one of path, path_prefix, path_regex and path_template");
        if (auto ms = r.string_list("methods")) {
            for (auto& me : *ms) {
                if (!is_token(me) || me != [&] {
                        std::string u = me;
                        std::transform(u.begin(), u.end(), u.begin(), ::toupper);
                        return u;
                    }())
                    r.error("methods", "not an upper-case method name: '" + me + "'");
                else m.methods.push_back(me);
            }
        }
        if (r.has("headers")) {
            auto hn = r.get("headers");
            if (!hn.IsMap()) r.error("headers", "expected a mapping of header name to value");
            else
                for (auto it = hn.begin(); it != hn.end(); ++it) {
                    auto name = it->first.Scalar();
                    auto v = scalar_of(it->second, r.child_path("headers") + "." + name, d);
                    if (auto why = field_name_problem(name, true))
                        d.error(mark_of(it->first), r.child_path("headers"), "'" + name + "': " + why);
                    else if (v) m.headers.emplace_back(util::ascii_lower(name), *v);
                }
        }
        if (r.has("query")) {
            auto qn = r.get("query");
            if (!qn.IsMap()) r.error("query", "expected a mapping of parameter name to value (~ for presence)");
            else
                for (auto it = qn.begin(); it != qn.end(); ++it) {
                    if (it->second.IsNull()) m.query.emplace_back(it->first.Scalar(), std::nullopt);
                    else if (auto v = scalar_of(it->second, r.child_path("query") + "." + it->first.Scalar(), d))
                        m.query.emplace_back(it->first.Scalar(), *v);
                }
        }
        r.finish();
    }

    void routes(const YAML::Node& n) {
        if (!n.IsSequence()) {
            d.error(mark_of(n), "routes", "expected a list of routes");
            return;
        }
        std::set<std::string> names;
        for (std::size_t i = 0; i < n.size(); ++i) {
            std::string path = "routes[" + std::to_string(i) + "]";
            map_reader r(n[i], path, d,
                         {"name", "match", "rewrite", "respond", "redirect", "upstream", "upstreams", "split_on", "mirror", "websocket",
                          "upgrade", "tunnel_idle_timeout", "timeout", "limits", "retry", "fallback", "access_log", "middleware",
                          "middleware_mode", "compose", "grpc", "grpc_web", "grpc_transcode"});
            if (!r.ok()) continue;
            route_config rc;
            rc.mark = mark_of(n[i]);
            rc.name = r.string("name").value_or("route" + std::to_string(i));
            if (!names.insert(rc.name).second) r.error("name", "duplicate route name '" + rc.name + "'");
            if (r.has("match")) match(r.get("match"), r.child_path("match"), rc.match);
            int actions = 0;
            if (auto u = r.string("upstream")) {
                ++actions;
                rc.upstream = *u;
            }
            if (r.has("upstreams")) {
                ++actions;
                split(r, rc);
            } else if (r.has("split_on")) {
                r.error("split_on", "only with upstreams: [{ name, weight }, ...]");
            }
            if (r.has("respond")) {
                ++actions;
                rc.respond = respond(r.get("respond"), r.child_path("respond"));
            }
            if (r.has("redirect")) {
                ++actions;
                rc.redirect = redirect(r.get("redirect"), r.child_path("redirect"));
            }
            if (r.has("compose")) {
                ++actions;
                rc.compose = read_compose(r.get("compose"), r.child_path("compose"), d, template_variables(rc.match.segments));
            }
            if (actions != 1) d.error(rc.mark, path, "a route needs exactly one of upstream, upstreams, respond, redirect and compose");
            if (r.has("grpc_transcode")) {
                if (rc.upstream.empty() || r.has("upstreams")) r.error("grpc_transcode", "grpc_transcode needs the route's upstream: one, of protocol h2c or h2");
                rc.grpc_transcode = read_grpc_transcode(r.get("grpc_transcode"), r.child_path("grpc_transcode"), d);
            }
            if (r.has("rewrite")) {
                if (rc.upstream.empty()) r.error("rewrite", "rewrite applies only to routes with an upstream");
                rc.rewrite = rewrite(r.get("rewrite"), r.child_path("rewrite"), rc.match);
            }
            if (r.has("mirror")) {
                map_reader m(r.get("mirror"), r.child_path("mirror"), d, {"upstream", "percent"});
                mirror_config mc;
                mc.mark = mark_of(r.get("mirror"));
                if (auto u = m.string("upstream"); u && !u->empty()) mc.upstream = *u;
                else d.error(mc.mark, r.child_path("mirror") + ".upstream", "required");
                if (m.has("percent")) {
                    auto v = m.string("percent");
                    char* end = nullptr;
                    double p = v ? std::strtod(v->c_str(), &end) : -1;
                    if (!v || end == v->c_str() || (*end && std::string(end) != "%") || p < 0 || p > 100)
                        m.error("percent", "expected a number from 0 to 100");
                    else mc.percent = p;
                }
                m.finish();
                if (rc.upstream.empty()) r.error("mirror", "mirror applies only to routes with an upstream");
                rc.mirror = mc;
            }
            if (auto ws = r.boolean("websocket"); ws && *ws) rc.upgrades.push_back("websocket");
            if (auto ups = r.string_list("upgrade"))
                for (const auto& given : *ups) {
                    const auto u = util::ascii_lower(given);
                    if (u.empty() || u.find_first_of(" \t,;/\"") != std::string::npos)
                        r.error("upgrade", "'" + u + "' is not a protocol token (e.g. websocket)");
                    else if (std::find(rc.upgrades.begin(), rc.upgrades.end(), u) == rc.upgrades.end()) rc.upgrades.push_back(u);
                }
            if (!rc.upgrades.empty() && rc.upstream.empty())
                r.error(r.has("websocket") ? "websocket" : "upgrade", "upgrades apply only to routes with an upstream");
            if (auto t = r.duration_value("tunnel_idle_timeout")) {
                if (t->count() <= 0) r.error("tunnel_idle_timeout", "must be positive");
                else rc.tunnel_idle_timeout = *t;
            }
            if (auto t = r.duration_value("timeout")) rc.timeout = *t;
            if (r.has("limits")) {
                // Per-route overrides of the global limits (an upload route above a small global cap).
                map_reader l(r.get("limits"), r.child_path("limits"), d, {"max_body_bytes", "request_timeout", "upstream_idle_timeout"});
                if (auto v = l.size_value("max_body_bytes")) rc.max_body_bytes = *v;
                if (auto t = l.duration_value("upstream_idle_timeout")) {
                    if (t->count() <= 0) l.error("upstream_idle_timeout", "must be positive");
                    else rc.upstream_idle_timeout = *t;
                }
                if (auto t = l.duration_value("request_timeout")) {
                    if (rc.timeout) l.error("request_timeout", "the route already has `timeout` (the same setting): keep one");
                    else if (t->count() <= 0) l.error("request_timeout", "must be positive");
                    else rc.timeout = *t;
                }
                l.finish();
            }
            if (r.has("grpc")) {
                map_reader g(r.get("grpc"), r.child_path("grpc"), d, {"max_stream_duration"});
                if (rc.upstream.empty()) r.error("grpc", "grpc applies only to routes with an upstream");
                if (auto t = g.duration_value("max_stream_duration")) {
                    if (t->count() < 0) g.error("max_stream_duration", "must be 0 (no limit) or positive");
                    else rc.grpc_max_stream_duration = *t;
                }
                g.finish();
            }
            if (auto w = r.boolean("grpc_web")) {
                if (rc.upstream.empty()) r.error("grpc_web", "grpc_web applies only to routes with an upstream");
                rc.grpc_web = *w;
            }
            if (r.has("retry")) {
                if (rc.upstream.empty() && !rc.compose) r.error("retry", "retry applies only to routes with an upstream or compose");
                rc.retry = read_retry(r.get("retry"), r.child_path("retry"), d);
            }
            if (r.has("fallback")) {
                if (rc.upstream.empty()) r.error("fallback", "fallback applies only to routes with an upstream");
                rc.fallback = fallback(r.get("fallback"), r.child_path("fallback"));
            }
            if (auto al = r.boolean("access_log")) rc.access_log = *al;
            if (r.has("middleware")) rc.middleware = middleware_list_of(r.get("middleware"), r.child_path("middleware"));
            if (auto mode = r.string("middleware_mode")) {
                if (*mode == "replace") rc.middleware_replace = true;
                else if (*mode != "extend") r.error("middleware_mode", "must be extend (after the listener's middleware) or replace");
            }
            r.finish();
            cfg.routes.push_back(std::move(rc));
        }
    }

    std::optional<rewrite_config> rewrite(const YAML::Node& n, const std::string& path, const match_config& m) {
        map_reader r(n, path, d, {"strip_prefix", "replace_prefix", "path", "host"});
        if (!r.ok()) return std::nullopt;
        rewrite_config rw;
        rw.strip_prefix = r.string("strip_prefix");
        rw.replace_prefix = r.string("replace_prefix");
        if (rw.strip_prefix && (rw.strip_prefix->empty() || rw.strip_prefix->front() != '/'))
            r.error("strip_prefix", "must start with '/'");
        if (rw.replace_prefix) {
            if (m.path_kind != path_match::prefix) r.error("replace_prefix", "needs match.path_prefix, the prefix it replaces");
            if (rw.replace_prefix->empty() || rw.replace_prefix->front() != '/') r.error("replace_prefix", "must start with '/'");
            if (has_ctl(*rw.replace_prefix) || rw.replace_prefix->find(' ') != std::string::npos)
                r.error("replace_prefix", "must not contain spaces or control characters");
        }
        if (rw.strip_prefix && rw.replace_prefix) d.error(mark_of(n), path, "use strip_prefix or replace_prefix, not both");
        if (auto p = r.string("path")) {
            const auto variables = template_variables(m.segments);
            std::string error;
            if (rw.strip_prefix || rw.replace_prefix)
                r.error("path", "replaces the whole path: use it without strip_prefix and replace_prefix");
            else if (auto parts = parse_rewrite_path(*p, &variables, error)) {
                rw.path = *p;
                rw.path_parts = std::move(*parts);
            } else r.error("path", error);
        }
        if (auto h = r.string("host")) {
            if (!valid_host_pattern(*h, false)) r.error("host", "not a host name: '" + *h + "'");
            else rw.host = *h;
        }
        r.finish();
        return rw;
    }

    // routes[].fallback: { respond: {...} } or { upstream: NAME }, exactly one.
    std::optional<fallback_config> fallback(const YAML::Node& n, const std::string& path) {
        map_reader r(n, path, d, {"respond", "upstream"});
        if (!r.ok()) return std::nullopt;
        fallback_config f;
        f.mark = mark_of(n);
        if (r.has("respond")) f.respond = respond(r.get("respond"), r.child_path("respond"));
        if (auto u = r.string("upstream")) f.upstream = *u;
        if (f.respond.has_value() == !f.upstream.empty()) d.error(f.mark, path, "needs exactly one of respond and upstream");
        r.finish();
        return f;
    }

    std::optional<respond_config> respond(const YAML::Node& n, const std::string& path) {
        map_reader r(n, path, d, {"status", "body", "content_type", "headers"});
        if (!r.ok()) return std::nullopt;
        respond_config rc;
        if (auto s = r.integer("status", 200, 599)) rc.status = static_cast<int>(*s);
        if (auto b = r.string("body")) rc.body = *b;
        if (auto c = r.string("content_type")) {
            if (has_ctl(*c)) r.error("content_type", "must not contain control characters");
            rc.content_type = *c;
        }
        if (r.has("headers")) {
            auto hn = r.get("headers");
            if (!hn.IsMap()) r.error("headers", "expected a mapping of header name to value");
            else
                for (auto it = hn.begin(); it != hn.end(); ++it) {
                    auto name = it->first.Scalar();
                    auto v = scalar_of(it->second, r.child_path("headers") + "." + name, d);
                    if (!is_token(name)) d.error(mark_of(it->first), r.child_path("headers"), "not a header name: '" + name + "'");
                    else if (v && has_ctl(*v))
                        d.error(mark_of(it->second), r.child_path("headers") + "." + name,
                                "header values must not contain CR, LF or other control characters");
                    else if (v) rc.headers.emplace_back(name, *v);
                }
        }
        r.finish();
        return rc;
    }

    std::optional<redirect_config> redirect(const YAML::Node& n, const std::string& path) {
        map_reader r(n, path, d, {"status", "scheme", "host", "port", "path", "strip_query"});
        if (!r.ok()) return std::nullopt;
        redirect_config rc;
        if (auto s = r.integer("status", 300, 399)) {
            if (*s != 301 && *s != 302 && *s != 303 && *s != 307 && *s != 308) r.error("status", "must be 301, 302, 303, 307 or 308");
            else rc.status = static_cast<int>(*s);
        }
        if (auto s = r.string("scheme")) {
            if (*s != "http" && *s != "https") r.error("scheme", "must be http or https");
            else rc.scheme = *s;
        }
        if (auto h = r.string("host")) {
            if (!valid_host_pattern(*h, false)) r.error("host", "not a host name: '" + *h + "'");
            else rc.host = *h;
        }
        if (auto p = r.integer("port", 1, 65535)) rc.port = static_cast<std::uint16_t>(*p);
        if (auto p = r.string("path")) {
            if (p->empty() || p->front() != '/' || has_ctl(*p) || p->find(' ') != std::string::npos)
                r.error("path", "must start with '/' and contain no spaces or control characters");
            else rc.path = *p;
        }
        if (auto q = r.boolean("strip_query")) rc.strip_query = *q;
        r.finish();
        return rc;
    }

    void upstreams(const YAML::Node& n) {
        if (!n.IsSequence()) {
            d.error(mark_of(n), "upstreams", "expected a list of upstreams");
            return;
        }
        std::set<std::string> names;
        for (std::size_t i = 0; i < n.size(); ++i) {
            std::string path = "upstreams[" + std::to_string(i) + "]";
            map_reader r(n[i], path, d,
                         {"name", "discovery", "load_balancer", "pool", "tls", "limits", "circuit_breaker", "outlier_detection",
                          "health_check", "slow_start", "panic_threshold", "protocol", "protocol_fallback", "http2"});
            if (!r.ok()) continue;
            upstream_config u;
            u.mark = mark_of(n[i]);
            if (auto nm = r.string("name")) u.name = *nm;
            else d.error(u.mark, path + ".name", "required");
            if (!u.name.empty() && !names.insert(u.name).second) r.error("name", "duplicate upstream name '" + u.name + "'");
            if (r.has("discovery")) discovery(r.get("discovery"), r.child_path("discovery"), u);
            else d.error(u.mark, path + ".discovery", "required (for example discovery: { static: [127.0.0.1:9001] })");
            if (r.has("load_balancer")) load_balancer(r, u.load_balancer);
            if (r.has("pool")) pool(r.get("pool"), r.child_path("pool"), u.pool);
            read_upstream_resilience(r, u);
            upstream_protocol_of(r, u);
            if (r.has("tls")) {
                map_reader t(r.get("tls"), r.child_path("tls"), d, {"sni", "ca", "verify", "client_cert", "client_key"});
                upstream_tls_config tc;
                if (auto v = t.string("sni")) tc.sni = *v;
                if (auto v = t.string("ca")) tc.ca = *v;
                if (auto v = t.boolean("verify")) tc.verify = *v;
                if (auto v = t.string("client_cert")) tc.client_cert = *v;
                if (auto v = t.string("client_key")) tc.client_key = *v;
                if (tc.client_cert.empty() != tc.client_key.empty())
                    d.error(mark_of(r.get("tls")), r.child_path("tls"), "client_cert and client_key go together");
                t.finish();
                u.tls = tc;
            }
            r.finish();
            cfg.upstreams.push_back(std::move(u));
        }
    }

    // discovery: { <provider>: {...}, wait_for_first: true, first_timeout: 10s }, exactly one
    // provider key, validated by that provider's parser (src/discovery/registry.cpp).
    void discovery(const YAML::Node& n, const std::string& path, upstream_config& u) {
        auto types = discovery_type_names();
        std::vector<std::string> keys = types;
        keys.push_back("wait_for_first");
        keys.push_back("first_timeout");
        map_reader r(n, path, d, keys);
        if (!r.ok()) return;
        std::vector<std::string> found;
        for (auto& t : types)
            if (r.has(t)) found.push_back(t);
        std::string list;
        for (auto& t : types) list += (list.empty() ? "" : ", ") + t;
        if (found.empty()) d.error(mark_of(n), path, "needs a discovery source: one of " + list);
        else if (found.size() > 1)
            d.error(mark_of(n), path, "has both " + found[0] + " and " + found[1] + "; an upstream takes one discovery source");
        else if (auto spec = (*find_discovery_type(found[0]))(r.get(found[0]), r.child_path(found[0]), d)) {
            spec->type = found[0];
            spec->path = r.child_path(found[0]);
            spec->mark = mark_of(r.get(found[0]));
            u.discovery = std::move(spec);
        }
        if (auto w = r.boolean("wait_for_first")) u.wait_for_first = *w;
        if (auto t = r.duration_value("first_timeout")) u.first_timeout = *t;
        r.finish();
    }

    void load_balancer(map_reader& parent, lb_config& lb) {
        auto n = parent.get("load_balancer");
        std::string path = parent.child_path("load_balancer");
        static const std::vector<std::string> policies{"round_robin", "weighted", "random", "least_request", "ring_hash", "peak_ewma"};
        auto set_policy = [&](const std::string& p, const YAML::Node& at) {
            auto it = std::find(policies.begin(), policies.end(), p);
            if (it == policies.end()) {
                std::string msg = "unknown load balancer '" + p + "'";
                if (auto g = did_you_mean(p, policies); !g.empty()) msg += " (did you mean '" + g + "'?)";
                d.error(mark_of(at), path, msg + "; one of round_robin, weighted, random, least_request, ring_hash, peak_ewma");
                return;
            }
            lb.policy = static_cast<lb_policy>(it - policies.begin());
        };
        if (n.IsScalar()) {
            set_policy(n.Scalar(), n);
            if (lb.policy == lb_policy::ring_hash) lb.hash_on = lb_config::hash_source::client_ip;
            return;
        }
        map_reader r(n, path, d, {"policy", "hash_on", "decay"});
        if (!r.ok()) return;
        if (auto p = r.string("policy")) set_policy(*p, r.get("policy"));
        else d.error(mark_of(n), path + ".policy", "required");
        if (auto t = r.duration_value("decay")) {
            if (lb.policy != lb_policy::peak_ewma) r.error("decay", "only peak_ewma uses decay");
            else if (t->count() <= 0) r.error("decay", "must be positive");
            else lb.decay = *t;
        }
        if (r.has("hash_on")) {
            if (lb.policy != lb_policy::ring_hash) r.error("hash_on", "only ring_hash uses hash_on");
            auto h = r.get("hash_on");
            if (h.IsScalar() && h.Scalar() == "client_ip") {
                lb.hash_on = lb_config::hash_source::client_ip;
            } else if (h.IsMap()) {
                map_reader hr(h, r.child_path("hash_on"), d, {"header"});
                if (auto name = hr.string("header")) {
                    if (auto why = field_name_problem(*name, true)) hr.error("header", why);
                    lb.hash_on = lb_config::hash_source::header;
                    lb.hash_header = util::ascii_lower(*name);
                } else {
                    d.error(mark_of(h), r.child_path("hash_on"), "expected client_ip or { header: NAME }");
                }
                hr.finish();
            } else {
                r.error("hash_on", "expected client_ip or { header: NAME }");
            }
        }
        r.finish();
    }

    // protocol: http1 | h2 | h2c, protocol_fallback, http2: { ... } (the HTTP/2 client's settings).
    void upstream_protocol_of(map_reader& r, upstream_config& u) {
        if (auto p = r.string("protocol")) {
            if (*p == "http1") u.protocol = upstream_protocol::http1;
            else if (*p == "h2") u.protocol = upstream_protocol::h2;
            else if (*p == "h2c") u.protocol = upstream_protocol::h2c;
            else r.error("protocol", "unknown protocol '" + *p + "'; one of http1, h2 (HTTP/2 over TLS), h2c (HTTP/2 over TCP)");
        }
        if (u.protocol == upstream_protocol::h2 && !r.has("tls"))
            r.error("protocol", "h2 is HTTP/2 over TLS: the upstream needs tls: (h2c is HTTP/2 over plain TCP)");
        if (u.protocol == upstream_protocol::h2c && r.has("tls"))
            r.error("protocol", "h2c is HTTP/2 over plain TCP: with tls: use protocol: h2");
        if (u.health_check && u.health_check->grpc_service && u.protocol == upstream_protocol::http1)
            r.error("health_check", "grpc health checks need protocol: h2 or h2c");
        if (auto f = r.boolean("protocol_fallback")) {
            if (u.protocol != upstream_protocol::h2) r.error("protocol_fallback", "only protocol: h2 negotiates (by ALPN)");
            u.protocol_fallback = *f;
        }
        if (!r.has("http2")) return;
        if (u.protocol == upstream_protocol::http1) r.error("http2", "applies to protocol: h2 or h2c");
        map_reader h(r.get("http2"), r.child_path("http2"), d,
                     {"max_concurrent_streams", "initial_stream_window", "connection_window", "ping_interval", "ping_timeout"});
        if (!h.ok()) return;
        auto& o = u.http2;
        if (auto v = h.integer("max_concurrent_streams", 1, 10000)) o.max_concurrent_streams = static_cast<std::uint32_t>(*v);
        windows(h, o.initial_stream_window, o.connection_window);
        if (auto v = h.duration_value("ping_interval")) o.ping_interval = *v;
        if (auto v = h.duration_value("ping_timeout")) {
            if (v->count() <= 0) h.error("ping_timeout", "must be greater than zero");
            else o.ping_timeout = *v;
        }
        h.finish();
    }

    void pool(const YAML::Node& n, const std::string& path, pool_config& p) {
        map_reader r(n, path, d, {"max_connections", "max_pending", "idle_timeout", "connect_timeout"});
        if (!r.ok()) return;
        if (auto v = r.integer("max_connections", 1, 1'000'000)) p.max_connections = static_cast<std::uint64_t>(*v);
        if (auto v = r.integer("max_pending", 0, 1'000'000)) p.max_pending = static_cast<std::uint64_t>(*v);
        if (auto v = r.duration_value("idle_timeout")) p.idle_timeout = *v;
        if (auto v = r.duration_value("connect_timeout")) {
            if (v->count() == 0) r.error("connect_timeout", "must be greater than zero");
            else p.connect_timeout = *v;
        }
        r.finish();
    }

    // Each entry is a mapping with exactly one key, the type; its value goes to that type's parser.
    middleware_list middleware_list_of(const YAML::Node& n, const std::string& path) {
        middleware_list out;
        if (!n.IsSequence()) {
            d.error(mark_of(n), path, "expected a list of middleware, each { type: settings }");
            return out;
        }
        for (std::size_t i = 0; i < n.size(); ++i) {
            std::string ep = path + "[" + std::to_string(i) + "]";
            const YAML::Node& e = n[i];
            if (!e.IsMap() || e.size() != 1) {
                d.error(mark_of(e), ep, "expected one key, the middleware type (e.g. - jwt: { provider: main })");
                continue;
            }
            auto it = e.begin();
            std::string type = it->first.as<std::string>();
            const auto* parser = find_middleware_type(type);
            if (!parser) {
                std::string msg = "unknown middleware '" + type + "'";
                auto names = middleware_type_names();
                if (auto g = did_you_mean(type, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
                d.error(mark_of(it->first), ep, msg);
                continue;
            }
            auto settings = it->second;
            auto spec = (*parser)(settings, ep + "." + type, d, root_);
            if (spec) {
                spec->type = type;
                spec->path = ep + "." + type;
                spec->mark = mark_of(it->first);
                out.push_back(std::move(spec));
            }
        }
        return out;
    }

    // upstreams: [{ name: v1, weight: 95 }, { name: v2, weight: 5 }], split_on: { header: X } | { cookie: c }
    void split(map_reader& r, route_config& rc) {
        auto list = r.get("upstreams");
        if (!list.IsSequence() || list.size() == 0) {
            r.error("upstreams", "expected a list of { name, weight }");
            return;
        }
        std::uint64_t total = 0;
        std::set<std::string> seen;
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto p = r.child_path("upstreams") + "[" + std::to_string(i) + "]";
            map_reader e(list[i], p, d, {"name", "weight"});
            if (!e.ok()) continue;
            split_target t;
            t.mark = mark_of(list[i]);
            if (auto n = e.string("name"); n && !n->empty()) t.upstream = *n;
            else d.error(t.mark, p + ".name", "required");
            if (auto w = e.integer("weight", 0, 1'000'000)) t.weight = static_cast<std::uint32_t>(*w);
            else if (!e.has("weight")) d.error(t.mark, p + ".weight", "required (0 takes no traffic: blue/green is 100 and 0)");
            if (!t.upstream.empty() && !seen.insert(t.upstream).second) e.error("name", "'" + t.upstream + "' is listed twice");
            total += t.weight;
            e.finish();
            rc.split.push_back(std::move(t));
        }
        if (total == 0) r.error("upstreams", "every weight is 0: nothing would take traffic");
        if (!rc.split.empty()) rc.upstream = rc.split.front().upstream;
        if (r.has("split_on")) {
            auto n = r.get("split_on");
            map_reader k(n, r.child_path("split_on"), d, {"header", "cookie"});
            if (!k.ok()) return;
            if (auto h = k.string("header")) {
                if (auto why = field_name_problem(*h, true)) k.error("header", why);
                rc.split_on = {split_key::kind::header, util::ascii_lower(*h)};
            } else if (auto c = k.string("cookie")) {
                rc.split_on = {split_key::kind::cookie, *c};
            } else {
                d.error(mark_of(n), r.child_path("split_on"), "expected { header: NAME } or { cookie: NAME }");
            }
            k.finish();
        }
    }

    // Whether every upstream of the route (each of a split) speaks HTTP/2 (`h2`), or each HTTP/1.1.
    bool route_speaks(const route_config& rc, bool h2) const {
        auto speaks = [&](const std::string& name) {
            for (auto& u : cfg.upstreams)
                if (u.name == name) return (u.protocol != upstream_protocol::http1) == h2;
            return true;  // unknown: reported as such
        };
        bool ok = rc.split.empty() ? speaks(rc.upstream) : true;
        for (auto& s : rc.split) ok = ok && speaks(s.upstream);
        return ok;
    }

    // gRPC-Web is translated to gRPC, which needs HTTP/2 to the upstream; an upgrade (WebSocket)
    // is tunnelled over an HTTP/1.1 connection (extended CONNECT to upstreams is not built).
    void check_protocol_needs(const route_config& rc, std::size_t i) {
        const auto where = "routes[" + std::to_string(i) + "]";
        if (rc.grpc_web && !route_speaks(rc, true))
            d.error(rc.mark, where + ".grpc_web", "grpc_web needs an upstream with protocol: h2c or h2 (gRPC is HTTP/2)");
        if (!rc.upgrades.empty() && !route_speaks(rc, false))
            d.error(rc.mark, where + (rc.upgrades.front() == "websocket" ? ".websocket" : ".upgrade"),
                    "upgrades (WebSocket) need an upstream with protocol: http1 (the tunnel is an HTTP/1.1 Upgrade)");
        if (rc.grpc_transcode && !route_speaks(rc, true))  // it makes gRPC calls
            d.error(rc.grpc_transcode->mark, where + ".grpc_transcode",
                    "the upstream '" + rc.upstream + "' speaks HTTP/1.1: gRPC calls need protocol h2c or h2");
    }

    void check_references() {
        if (cfg.probes && cfg.probes->listen.port != 0) {
            const auto& p = cfg.probes->listen;
            auto same = [&](const host_port& a) { return a.port == p.port && a.host == p.host; };
            if (cfg.admin.enabled && same(cfg.admin.listen))
                d.error(cfg.probes->mark, "probes.listen", "the admin listener already uses " + addr_text(p));
            for (auto& l : cfg.listeners)
                if (same(l.listen)) d.error(cfg.probes->mark, "probes.listen", "listener '" + l.name + "' already uses " + addr_text(p));
        }
        std::vector<std::string> names;
        for (auto& u : cfg.upstreams) names.push_back(u.name);
        std::set<std::string> used;
        for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
            auto& rc = cfg.routes[i];
            auto check = [&](const std::string& name, source_mark m, const std::string& where) {
                used.insert(name);
                if (std::find(names.begin(), names.end(), name) != names.end()) return;
                std::string msg = "no upstream named '" + name + "'";
                if (auto g = did_you_mean(name, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
                d.error(m, where, msg);
            };
            if (rc.compose)
                for (std::size_t j = 0; j < rc.compose->calls.size(); ++j)
                    if (!rc.compose->calls[j].upstream.empty())
                        check(rc.compose->calls[j].upstream, rc.compose->calls[j].mark,
                              "routes[" + std::to_string(i) + "].compose.calls[" + std::to_string(j) + "].upstream");
            if (rc.upstream.empty()) continue;
            if (rc.split.empty()) check(rc.upstream, rc.mark, "routes[" + std::to_string(i) + "].upstream");
            for (std::size_t j = 0; j < rc.split.size(); ++j)
                check(rc.split[j].upstream, rc.split[j].mark,
                      "routes[" + std::to_string(i) + "].upstreams[" + std::to_string(j) + "].name");
            check_protocol_needs(rc, i);
            if (rc.mirror && !rc.mirror->upstream.empty())
                check(rc.mirror->upstream, rc.mirror->mark, "routes[" + std::to_string(i) + "].mirror.upstream");
            if (rc.fallback && !rc.fallback->upstream.empty()) {
                const auto where = "routes[" + std::to_string(i) + "].fallback.upstream";
                check(rc.fallback->upstream, rc.fallback->mark, where);
                if (rc.fallback->upstream == rc.upstream && rc.split.empty())
                    d.error(rc.fallback->mark, where, "the fallback is the route's own upstream");
            }
        }
        // Upstreams a middleware calls (ext_authz's policy service).
        auto check_calls = [&](const middleware_list& chain) {
            for (auto& spec : chain)
                for (auto& [name, m] : spec->upstreams) {
                    used.insert(name);
                    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
                    std::string msg = "no upstream named '" + name + "'";
                    if (auto g = did_you_mean(name, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
                    d.error(m, spec->path + ".upstream", msg);
                }
        };
        for (auto& rc : cfg.routes) check_calls(rc.middleware);
        for (auto& l : cfg.listeners) check_calls(l.middleware);
        for (std::size_t i = 0; i < cfg.upstreams.size(); ++i)
            if (!used.count(cfg.upstreams[i].name))
                d.warning(cfg.upstreams[i].mark, "upstreams[" + std::to_string(i) + "]",
                          "upstream '" + cfg.upstreams[i].name + "' is not used by any route");
    }
};

}  // namespace

load_result load_string(const std::string& yaml, const std::string& file_name) {
    load_result res{std::nullopt, diagnostics(file_name)};
    if (yaml.size() > k_max_config_bytes) {
        res.diags.error({}, "", "config file is larger than 1 MiB");
        return res;
    }
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        res.diags.error({e.mark.line + 1, e.mark.column + 1}, "", "YAML syntax error: " + e.msg);
        return res;
    }
    loader l{res.diags, {}, {}};
    l.cfg.file = file_name;
    try {
        l.top(root);
    } catch (const YAML::Exception& e) {
        res.diags.error({e.mark.line + 1, e.mark.column + 1}, "", std::string("invalid config: ") + e.msg);
    }
    if (!res.diags.has_errors()) res.config = std::move(l.cfg);
    return res;
}

load_result load_file(const std::string& path) {
    auto text = util::read_file(path);
    if (!text) {
        load_result res{std::nullopt, diagnostics(path)};
        res.diags.error({}, "", "cannot read the config file");
        return res;
    }
    return load_string(*text, path);
}

}  // namespace gatehouse::config
