// cors: the Fetch standard's CORS protocol for browsers calling an API from another origin.
// Preflights (OPTIONS with Access-Control-Request-Method) are answered here with 204; actual
// requests go on and their responses get Access-Control-Allow-Origin (the request's own origin,
// never "*" together with credentials), -Allow-Credentials and -Expose-Headers, and
// `Vary: Origin` so caches keep answers for different origins apart. An origin that is not
// allowed gets no CORS fields at all (the browser then refuses), not an error.
#include <array>

#include "gatehouse/config/middleware_spec.hpp"
#include "middleware/common.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware {

namespace {

struct origin_pattern {
    std::string exact;           // "https://app.example.com" (lower-case)
    std::string prefix, suffix;  // "https://" and ".example.com" for "https://*.example.com"
    bool any = false;            // "*"
};

struct cors_spec final : config::middleware_spec {
    std::vector<origin_pattern> origins;
    std::string methods = "GET, HEAD, POST, PUT, PATCH, DELETE";
    std::string allow_headers;  // empty: echo Access-Control-Request-Headers
    std::string expose_headers;
    bool credentials = false;
    std::string max_age;  // seconds, empty: not sent
    std::shared_ptr<const middleware> build(build_services&, config::diagnostics&) const override;
};

bool matches(const origin_pattern& p, std::string_view origin) {
    if (p.any) return true;
    if (!p.exact.empty()) return origin.size() == p.exact.size() && http::iequals(origin, p.exact);
    if (origin.size() <= p.prefix.size() + p.suffix.size()) return false;
    if (!http::iequals(origin.substr(0, p.prefix.size()), p.prefix)) return false;
    if (!http::iequals(origin.substr(origin.size() - p.suffix.size()), p.suffix)) return false;
    auto middle = origin.substr(p.prefix.size(), origin.size() - p.prefix.size() - p.suffix.size());
    // One or more DNS labels: letters, digits, '-' and '.', no port or path sneaking in.
    for (char c : middle)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
    return middle.front() != '.' && middle.back() != '.';
}

// The request's Origin, kept for the response (the request's views are gone by then); inline,
// so a request allocates nothing for it unless the origin is unusually long.
struct kept_origin {
    std::array<char, 80> text;
    std::uint8_t size = 0;
    std::string long_text;
    void assign(std::string_view o) {
        if (o.size() <= text.size()) {
            std::copy(o.begin(), o.end(), text.begin());
            size = static_cast<std::uint8_t>(o.size());
        } else {
            long_text.assign(o);
        }
    }
    std::string_view view() const { return long_text.empty() ? std::string_view(text.data(), size) : std::string_view(long_text); }
};

class cors final : public middleware {
public:
    explicit cors(cors_spec s) : spec_(std::move(s)) {}

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        auto origin = ctx.header("origin");
        bool allowed = origin && allowed_origin(*origin);
        if (allowed) ctx.state<kept_origin>().assign(*origin);
        if (ctx.method != "OPTIONS" || !origin || !ctx.header("access-control-request-method")) return verdict::next;
        // A preflight: answered here, allowed or not (not allowed: no CORS fields, and the
        // browser refuses the actual request).
        reply = {204, "", {}};
        if (!allowed) return verdict::reply;
        reply.headers.emplace_back("Access-Control-Allow-Methods", spec_.methods);
        if (!spec_.allow_headers.empty()) reply.headers.emplace_back("Access-Control-Allow-Headers", spec_.allow_headers);
        else if (auto h = ctx.header("access-control-request-headers"); h && valid_header_value(*h))
            reply.headers.emplace_back("Access-Control-Allow-Headers", std::string(*h));
        if (!spec_.max_age.empty()) reply.headers.emplace_back("Access-Control-Max-Age", spec_.max_age);
        return verdict::reply;
    }

    void on_response_headers(request_context& ctx, response_edit& edit) const override {
        if (!spec_.origins.empty() && !(spec_.origins.size() == 1 && spec_.origins[0].any && !spec_.credentials)) add_vary(edit, "Origin");
        auto* kept = ctx.find_state<kept_origin>();
        if (!kept) return;
        edit.remove.push_back("access-control-allow-origin");  // the upstream's own opinion does not count twice
        edit.remove.push_back("access-control-allow-credentials");
        bool star = spec_.origins.size() == 1 && spec_.origins[0].any && !spec_.credentials;
        edit.add.emplace_back("Access-Control-Allow-Origin", star ? std::string_view("*") : kept->view());
        if (spec_.credentials) edit.add.emplace_back("Access-Control-Allow-Credentials", "true");
        if (!spec_.expose_headers.empty() && edit.status != 204)
            edit.add.emplace_back("Access-Control-Expose-Headers", spec_.expose_headers);
    }

private:
    bool allowed_origin(std::string_view origin) const {
        for (auto& p : spec_.origins)
            if (matches(p, origin)) return true;
        return false;
    }
    cors_spec spec_;
};

std::shared_ptr<const middleware> cors_spec::build(build_services&, config::diagnostics&) const { return std::make_shared<cors>(*this); }

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node&) {
    auto spec = std::make_shared<cors_spec>();
    config::map_reader r(n, path, d, {"allow_origins", "allow_methods", "allow_headers", "expose_headers", "allow_credentials", "max_age"});
    if (!r.ok()) return nullptr;
    if (auto c = r.boolean("allow_credentials")) spec->credentials = *c;
    if (auto o = r.string_list("allow_origins")) {
        for (auto& t : *o) {
            origin_pattern p;
            auto star = t.find('*');
            if (t == "*") {
                p.any = true;
                if (spec->credentials) r.error("allow_origins", "\"*\" cannot be used with allow_credentials: list the origins");
            } else if (!t.starts_with("http://") && !t.starts_with("https://")) {
                r.error("allow_origins", "'" + t + "': an origin is scheme://host[:port], e.g. https://app.example.com");
                continue;
            } else if (star == std::string::npos) {
                if (t.find('/', t.find("://") + 3) != std::string::npos) r.error("allow_origins", "'" + t + "': an origin has no path");
                p.exact = util::ascii_lower(t);
            } else if (t.compare(star - 3, 4, "://*") == 0 && star + 1 < t.size() && t[star + 1] == '.' &&
                       t.find('*', star + 1) == std::string::npos) {
                p.prefix = util::ascii_lower(t.substr(0, star));
                p.suffix = util::ascii_lower(t.substr(star + 1));
            } else {
                r.error("allow_origins", "'" + t + "': a wildcard stands for the leftmost labels only (https://*.example.com)");
                continue;
            }
            spec->origins.push_back(p);
        }
    } else {
        d.error(mark(n), path + ".allow_origins",
                "required: the origins allowed, e.g. [https://app.example.com, \"https://*.example.com\"]");
    }
    auto tokens = [&](const char* key, std::string& out) {
        if (auto l = r.string_list(key)) {
            for (auto& h : *l)
                if (!is_header_name(h)) r.error(key, "'" + h + "' is not a token");
            out = joined(*l);
        }
    };
    tokens("allow_methods", spec->methods);
    tokens("allow_headers", spec->allow_headers);
    tokens("expose_headers", spec->expose_headers);
    if (auto m = r.duration_value("max_age")) spec->max_age = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*m).count());
    r.finish();
    return spec;
}

}  // namespace

void register_cors() { config::register_middleware_type("cors", parse); }

}  // namespace gatehouse::middleware
