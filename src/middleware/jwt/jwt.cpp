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
#include "middleware/jwt/token.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware::jwt {

namespace {

namespace asio = boost::asio;

constexpr std::size_t k_max_token = 8192;

struct jwt_spec final : config::middleware_spec {
    provider_spec provider;
    std::vector<credential_source> sources;
    std::vector<std::string> scopes;
    std::vector<std::pair<std::string, std::string>> claims;             // required claim = value
    std::vector<std::pair<std::string, std::string>> claims_to_headers;  // claim -> header (lower-case)
    bool forward_authorization = false;
    std::size_t cache_entries = 10000;
    std::shared_ptr<const middleware> build(build_services& s, config::diagnostics& d) const override;
};

class jwt_middleware final : public middleware {
public:
    jwt_middleware(jwt_spec spec, std::shared_ptr<provider> p, std::size_t workers)
        : spec_(std::move(spec)), provider_(std::move(p)), caches_(workers) {
        realm_ = "Bearer realm=\"gatehouse\"";
        const auto& ps = provider_->spec();
        using std::chrono::duration_cast, std::chrono::seconds;
        rules_.issuer = ps.issuer;
        rules_.audiences = ps.audiences;
        rules_.require_expiration = ps.require_expiration;
        rules_.clock_skew = duration_cast<seconds>(ps.clock_skew).count();
        if (ps.max_lifetime) rules_.max_lifetime = duration_cast<seconds>(*ps.max_lifetime).count();
        rules_.scopes = spec_.scopes;
        rules_.claims = spec_.claims;
        rules_.claims_to_headers = spec_.claims_to_headers;
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
        provider_->request_refetch(ctx.trace ? ctx.trace->detach() : nullptr);
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
            reply = {401,
                     describe(f),
                     {{"WWW-Authenticate", realm_ + ", error=\"invalid_token\", error_description=\"" + describe(f) + "\""}}};
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

    // The front end (split_token), the signature against the provider's keys, then the claims.
    failure verify(request_context& ctx, std::string_view token, std::int64_t now, verdict_entry& out) const {
        token_parts parts;
        if (auto f = split_token(token, provider_->spec().algorithms, parts); f != failure::none) return f;
        const auto& keys = provider_->keys(ctx.worker);
        bool any_key = false, ok = false;
        for (auto& k : keys.keys) {
            if (!parts.kid.empty() && k.kid != parts.kid) continue;
            if (!k.usable_for(parts.algorithm)) continue;
            any_key = true;
            if (verify_signature(parts.algorithm, k, parts.signing_input, parts.signature)) {
                ok = true;
                break;
            }
        }
        if (!any_key) return failure::unknown_kid;
        if (!ok) return failure::signature;
        return check_claims(parts.payload_text, rules_, now, out);
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
    claim_rules rules_;
    std::string realm_;
    mutable std::vector<lru> caches_;
};

std::shared_ptr<const middleware> jwt_spec::build(build_services& s, config::diagnostics&) const {
    auto p = get_provider(provider, s.workers, s.control);
    return std::make_shared<jwt_middleware>(*this, std::move(p), s.workers);
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                               const YAML::Node& root) {
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
            else
                for (auto it = c.begin(); it != c.end(); ++it) spec->claims.emplace_back(it->first.Scalar(), it->second.Scalar());
        }
        q.finish();
    }
    spec->claims_to_headers = parse_claims_to_headers(r);
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
