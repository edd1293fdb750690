// jwt: verifies a JSON Web Token against a provider's keys (jwt_providers), checks its claims,
// copies claims to upstream headers and caches what it verified, so a hot token costs a hash
// lookup instead of a signature check. Errors follow RFC 6750: 401 with WWW-Authenticate Bearer
// (error="invalid_token" when a token was presented), 403 insufficient_scope.
#include <yaml-cpp/yaml.h>

#include <boost/asio/post.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <list>
#include <unordered_map>

#include "gatehouse/config/middleware_spec.hpp"
#include "middleware/common.hpp"
#include "middleware/jwt/provider.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"

namespace gatehouse::middleware::jwt {

namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

constexpr std::size_t k_max_token = 8192;

struct jwt_spec final : config::middleware_spec {
    provider_spec provider;
    std::vector<credential_source> sources;
    std::vector<std::string> scopes;
    std::vector<std::pair<std::string, std::string>> claims;  // required claim = value
    std::vector<std::pair<std::string, std::string>> claims_to_headers;  // claim -> header (lower-case)
    bool forward_authorization = false;
    std::size_t cache_entries = 10000;
    std::shared_ptr<const middleware> build(build_services& s, config::diagnostics& d) const override;
};

// What a verified token allows; cached until the token expires.
struct verdict_entry {
    std::int64_t exp = 0;  // 0: no exp
    std::int64_t nbf = 0;
    bool forbidden = false;
    std::string subject;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::pair<std::string, std::string>> claims;  // top-level scalar claims, as text (request_context::claims)
};

enum class failure { none, missing, multiple, malformed, alg, crit, unknown_kid, signature, expired, not_yet_valid, lifetime, issuer, audience, claim, header_value };

const char* describe(failure f) {
    switch (f) {
        case failure::missing: return "missing token";
        case failure::multiple: return "more than one token";
        case failure::malformed: return "malformed token";
        case failure::alg: return "algorithm not allowed";
        case failure::crit: return "unsupported critical header";
        case failure::unknown_kid: return "no key for this token";
        case failure::signature: return "invalid signature";
        case failure::expired: return "token expired";
        case failure::not_yet_valid: return "token not yet valid";
        case failure::lifetime: return "token lifetime too long";
        case failure::issuer: return "wrong issuer";
        case failure::audience: return "wrong audience";
        case failure::claim: return "required claim missing or wrong";
        case failure::header_value: return "claim value not allowed in a header";
        case failure::none: break;
    }
    return "invalid token";
}

// Parses a JSON object, refusing duplicate member names at the top level (RFC 7515 §5.2).
std::optional<json> parse_object(const std::string& text) {
    bool duplicate = false;
    std::vector<std::string> seen;
    auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (depth == 1 && ev == json::parse_event_t::key) {
            auto k = parsed.get<std::string>();
            if (std::find(seen.begin(), seen.end(), k) != seen.end()) duplicate = true;
            seen.push_back(k);
        }
        return true;
    };
    json j = json::parse(text, cb, false);
    if (j.is_discarded() || !j.is_object() || duplicate) return std::nullopt;
    return j;
}

std::string claim_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out;
        for (auto& e : v) {
            if (!out.empty()) out += ",";
            out += claim_text(e);
        }
        return out;
    }
    return v.dump();
}

class jwt_middleware final : public middleware {
public:
    jwt_middleware(jwt_spec spec, std::shared_ptr<provider> p, std::size_t workers) : spec_(std::move(spec)), provider_(std::move(p)), caches_(workers) {
        realm_ = "Bearer realm=\"gatehouse\"";
    }

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        for (auto& [claim, header] : spec_.claims_to_headers) ctx.remove_upstream_header(header);  // the client's own copies
        int count = 0;
        auto token = find_credential(ctx, spec_.sources, &count);
        if (!token) return fail(ctx, reply, failure::missing);
        if (count > 1 && !all_same(ctx, *token)) return fail(ctx, reply, failure::multiple);
        if (token->size() > k_max_token) return fail(ctx, reply, failure::malformed);
        auto now = std::chrono::duration_cast<std::chrono::seconds>(ctx.now.time_since_epoch()).count();
        auto& cache = caches_[ctx.worker];
        if (auto hit = cache.find(std::string(*token)); hit) return apply(ctx, reply, *hit, now);
        verdict_entry entry;
        auto f = verify(ctx, *token, now, entry);
        if (f == failure::unknown_kid && !provider_->spec().jwks_url.empty()) {
            ctx.state<std::string>() = *token;
            return verdict::suspend;  // wait (bounded) for a refetch of the keys
        }
        if (f != failure::none) return fail(ctx, reply, f);
        cache.put(std::string(*token), entry, spec_.cache_entries);
        return apply(ctx, reply, entry, now);
    }

    asio::awaitable<verdict> on_request_async(request_context& ctx, local_reply& reply) const override {
        const std::string token = ctx.state<std::string>();  // set by on_request
        auto start_gen = provider_->generation();
        // Wait for the refetch to end (rare: a key rotation), at most kid_wait and never past the
        // route's deadline: the provider wakes the timer from the control thread.
        struct waiting {
            explicit waiting(asio::io_context& ioc) : timer(ioc) {}
            asio::steady_timer timer;
            std::atomic<bool> woken{false};
        };
        auto w = std::make_shared<waiting>(*ctx.ioc);
        provider_->notify_after_fetch([w] {
            w->woken.store(true, std::memory_order_release);
            asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
        });
        provider_->request_refetch();
        if (provider_->generation() == start_gen && !w->woken.load(std::memory_order_acquire)) {
            w->timer.expires_at(std::min(ctx.deadline, std::chrono::steady_clock::now() + provider_->spec().kid_wait));
            co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        verdict_entry entry;
        auto f = verify(ctx, token, now, entry);
        if (f != failure::none) co_return fail(ctx, reply, f);
        caches_[ctx.worker].put(token, entry, spec_.cache_entries);
        co_return apply(ctx, reply, entry, now);
    }

private:
    bool all_same(const request_context& ctx, std::string_view token) const {
        for (auto& s : spec_.sources) {
            std::vector<credential_source> one{s};
            if (auto t = find_credential(ctx, one); t && *t != token) return false;
        }
        return true;
    }

    // failure enumerators map 1:1 onto provider::result_name (none = ok); 15 = forbidden
    void count(const request_context& ctx, std::size_t result) const { provider_->count(ctx.worker, result); }

    verdict fail(const request_context& ctx, local_reply& reply, failure f) const {
        count(ctx, static_cast<std::size_t>(f));
        if (f == failure::missing) {
            reply = {401, describe(f), {{"WWW-Authenticate", realm_}}};
        } else {
            reply = {401, describe(f), {{"WWW-Authenticate", realm_ + ", error=\"invalid_token\", error_description=\"" + describe(f) + "\""}}};
        }
        return verdict::reply;
    }

    verdict apply(request_context& ctx, local_reply& reply, const verdict_entry& e, std::int64_t now) const {
        auto skew = std::chrono::duration_cast<std::chrono::seconds>(provider_->spec().clock_skew).count();
        if (e.exp && now > e.exp + skew) return fail(ctx, reply, failure::expired);
        if (e.nbf && now + skew < e.nbf) return fail(ctx, reply, failure::not_yet_valid);
        if (e.forbidden) {
            count(ctx, 15);
            std::string scope;
            for (auto& s : spec_.scopes) scope += (scope.empty() ? "" : " ") + s;
            reply = {403, "insufficient scope", {{"WWW-Authenticate", realm_ + ", error=\"insufficient_scope\", scope=\"" + scope + "\""}}};
            return verdict::reply;
        }
        count(ctx, 0);
        ctx.subject = e.subject;
        ctx.claims = e.claims;
        for (auto& [h, v] : e.headers) ctx.add_upstream_header(h, v);
        if (!spec_.forward_authorization) hide_credential(ctx, spec_.sources);
        return verdict::next;
    }

    failure verify(request_context& ctx, std::string_view token, std::int64_t now, verdict_entry& out) const {
        auto d1 = token.find('.');
        if (d1 == std::string_view::npos) return failure::malformed;
        auto d2 = token.find('.', d1 + 1);
        if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return failure::malformed;
        auto h64 = token.substr(0, d1), p64 = token.substr(d1 + 1, d2 - d1 - 1), s64 = token.substr(d2 + 1);
        if (h64.empty() || p64.empty() || s64.empty()) return failure::malformed;
        auto htext = base64url_decode(h64), ptext = base64url_decode(p64), sig = base64url_decode(s64);
        if (!htext || !ptext || !sig) return failure::malformed;
        auto header = parse_object(*htext);
        if (!header || !header->contains("alg") || !(*header)["alg"].is_string()) return failure::malformed;
        auto a = alg_from_name((*header)["alg"].get<std::string>());  // "none" in any case is never an algorithm
        const auto& allowed = provider_->spec().algorithms;
        if (!a || (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *a) == allowed.end())) return failure::alg;
        if (header->contains("crit")) return failure::crit;  // we implement no extension
        std::string kid;
        if (header->contains("kid")) {
            if (!(*header)["kid"].is_string()) return failure::malformed;
            kid = (*header)["kid"].get<std::string>();
        }
        // jku, jwk, x5u, x5c in the header are ignored: keys come from the provider only.
        const auto& keys = provider_->keys(ctx.worker);
        bool any_key = false, ok = false;
        std::string_view input = token.substr(0, d2);
        for (auto& k : keys.keys) {
            if (!kid.empty() && k.kid != kid) continue;
            if (!k.usable_for(*a)) continue;
            any_key = true;
            if (verify_signature(*a, k, input, *sig)) {
                ok = true;
                break;
            }
        }
        if (!any_key) return failure::unknown_kid;
        if (!ok) return failure::signature;
        auto payload = parse_object(*ptext);
        if (!payload) return failure::malformed;
        auto& p = *payload;
        const auto& spec = provider_->spec();
        auto skew = std::chrono::duration_cast<std::chrono::seconds>(spec.clock_skew).count();
        auto number = [&](const char* k, std::int64_t& v) -> bool {
            if (!p.contains(k)) return true;
            if (!p[k].is_number()) return false;
            v = static_cast<std::int64_t>(p[k].get<double>());
            return true;
        };
        std::int64_t exp = 0, nbf = 0, iat = 0;
        if (!number("exp", exp) || !number("nbf", nbf) || !number("iat", iat)) return failure::malformed;
        if (!p.contains("exp") && spec.require_expiration) return failure::expired;
        if (p.contains("exp") && now > exp + skew) return failure::expired;
        if (p.contains("nbf") && now + skew < nbf) return failure::not_yet_valid;
        if (p.contains("iat") && now + skew < iat) return failure::not_yet_valid;
        if (spec.max_lifetime && p.contains("exp")) {
            auto from = p.contains("iat") ? iat : p.contains("nbf") ? nbf : now;
            if (exp - from > std::chrono::duration_cast<std::chrono::seconds>(*spec.max_lifetime).count()) return failure::lifetime;
        }
        if (!spec.issuer.empty() && (!p.contains("iss") || !p["iss"].is_string() || p["iss"].get<std::string>() != spec.issuer)) return failure::issuer;
        if (!spec.audiences.empty()) {
            bool match = false;
            auto check = [&](const json& v) {
                if (v.is_string() && std::find(spec.audiences.begin(), spec.audiences.end(), v.get<std::string>()) != spec.audiences.end()) match = true;
            };
            if (p.contains("aud")) {
                if (p["aud"].is_array())
                    for (auto& v : p["aud"]) check(v);
                else check(p["aud"]);
            }
            if (!match) return failure::audience;
        }
        for (auto& [name, value] : spec_.claims) {
            if (!p.contains(name)) return failure::claim;
            auto& v = p[name];
            bool match = v.is_string() ? v.get<std::string>() == value : false;
            if (v.is_array())
                for (auto& e : v) match = match || (e.is_string() && e.get<std::string>() == value);
            if (!v.is_string() && !v.is_array()) match = v.dump() == value;
            if (!match) return failure::claim;
        }
        out.exp = p.contains("exp") ? exp : 0;
        out.nbf = p.contains("nbf") ? nbf : 0;
        if (!spec_.scopes.empty()) {
            std::vector<std::string> granted;
            auto add = [&](const json& v) {
                if (v.is_string()) {
                    std::string s = v.get<std::string>();
                    std::size_t i = 0;
                    while (i < s.size()) {
                        auto sp = s.find(' ', i);
                        if (sp == std::string::npos) sp = s.size();
                        if (sp > i) granted.push_back(s.substr(i, sp - i));
                        i = sp + 1;
                    }
                } else if (v.is_array()) {
                    for (auto& e : v)
                        if (e.is_string()) granted.push_back(e.get<std::string>());
                }
            };
            if (p.contains("scope")) add(p["scope"]);
            if (p.contains("scp")) add(p["scp"]);
            for (auto& need : spec_.scopes)
                if (std::find(granted.begin(), granted.end(), need) == granted.end()) out.forbidden = true;
        }
        if (p.contains("sub") && p["sub"].is_string()) out.subject = p["sub"].get<std::string>();
        if (!valid_header_value(out.subject)) out.subject.clear();
        for (auto& [k, v] : p.items())
            if (v.is_string() || v.is_number() || v.is_boolean()) out.claims.emplace_back(k, claim_text(v));
        for (auto& [claim, header] : spec_.claims_to_headers) {
            if (!p.contains(claim)) continue;
            auto v = claim_text(p[claim]);
            if (!valid_header_value(v)) return failure::header_value;  // CR/LF smuggling through a claim
            out.headers.emplace_back(header, v);
        }
        (void)now;
        return failure::none;
    }

    // A small LRU of verified tokens, one per worker.
    struct alignas(64) lru {
        std::list<std::pair<std::string, verdict_entry>> order;
        std::unordered_map<std::string_view, std::list<std::pair<std::string, verdict_entry>>::iterator> index;
        const verdict_entry* find(const std::string& token) {
            auto it = index.find(token);
            if (it == index.end()) return nullptr;
            order.splice(order.begin(), order, it->second);
            return &it->second->second;
        }
        void put(std::string token, const verdict_entry& e, std::size_t cap) {
            if (index.count(token)) return;
            order.emplace_front(std::move(token), e);
            index[order.front().first] = order.begin();
            while (order.size() > cap) {
                index.erase(order.back().first);
                order.pop_back();
            }
        }
    };

    jwt_spec spec_;
    std::shared_ptr<provider> provider_;
    std::string realm_;
    mutable std::vector<lru> caches_;
};

std::shared_ptr<const middleware> jwt_spec::build(build_services& s, config::diagnostics&) const {
    auto p = get_provider(provider, s.workers, s.control);
    return std::make_shared<jwt_middleware>(*this, std::move(p), s.workers);
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node& root) {
    auto spec = std::make_shared<jwt_spec>();
    config::map_reader r(n, path, d, {"provider", "sources", "require", "claims_to_headers", "forward_authorization", "cache"});
    if (!r.ok()) return nullptr;
    auto name = r.string("provider");
    if (!name) {
        d.error(mark(n), path + ".provider", "required");
        return nullptr;
    }
    const YAML::Node& cr = root;
    auto section = cr["jwt_providers"];
    bool found = false;
    if (section.IsDefined()) {
        config::diagnostics ignored;  // the section's own problems are reported once, by its validator
        std::vector<std::string> files;
        for (auto& p : parse_providers(section, "jwt_providers", ignored, &files))
            if (p.name == *name) {
                spec->provider = p;
                spec->watched_files = files;
                found = true;
            }
    }
    if (!found) {
        std::vector<std::string> names;
        if (section.IsSequence())
            for (auto p : section)
                if (p["name"]) names.push_back(p["name"].Scalar());
        std::string msg = "no jwt_providers entry named '" + *name + "'";
        if (auto g = config::did_you_mean(*name, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
        r.error("provider", msg);
    }
    if (r.has("sources")) spec->sources = parse_sources(r.get("sources"), r.child_path("sources"), d);
    else spec->sources.push_back({credential_source::kind::bearer, "authorization"});
    if (r.has("require")) {
        config::map_reader q(r.get("require"), r.child_path("require"), d, {"scopes", "claims"});
        if (auto s = q.string_list("scopes")) spec->scopes = *s;
        if (q.has("claims")) {
            auto c = q.get("claims");
            if (!c.IsMap()) q.error("claims", "expected a mapping of claim to value");
            else for (auto it = c.begin(); it != c.end(); ++it) spec->claims.emplace_back(it->first.Scalar(), it->second.Scalar());
        }
        q.finish();
    }
    if (r.has("claims_to_headers")) {
        auto c = r.get("claims_to_headers");
        if (!c.IsMap()) r.error("claims_to_headers", "expected a mapping of claim to header name");
        else for (auto it = c.begin(); it != c.end(); ++it) {
            auto h = it->second.Scalar();
            if (!is_header_name(h)) d.error(mark(it->second), r.child_path("claims_to_headers") + "." + it->first.Scalar(), "not a header name");
            else spec->claims_to_headers.emplace_back(it->first.Scalar(), to_lower(h));
        }
    }
    if (auto f = r.boolean("forward_authorization")) spec->forward_authorization = *f;
    if (r.has("cache")) {
        config::map_reader c(r.get("cache"), r.child_path("cache"), d, {"max_entries"});
        if (auto m = c.integer("max_entries", 0, 10'000'000)) spec->cache_entries = static_cast<std::size_t>(*m);
        c.finish();
    }
    r.finish();
    return spec;
}

}  // namespace

void register_jwt() {
    config::register_middleware_type("jwt", parse);
    config::register_config_section("jwt_providers", [](const YAML::Node& section, const std::string& path, config::diagnostics& d) {
        parse_providers(section, path, d);
    });
}

}  // namespace gatehouse::middleware::jwt
