#include "middleware/jwt/provider.hpp"
#include "util/identity_registry.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

#include <openssl/err.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <map>

#include "config/yaml_reader.hpp"
#include "middleware/common.hpp"
#include "middleware/jwt/jwks_fetch.hpp"
#include "observability/call_spans.hpp"

namespace gatehouse::middleware::jwt {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string provider_spec::identity() const {
    std::string id = name + "|" + issuer + "|" + jwks_url + "|" + jwks_ca + "|" + jwks_file + "|" + sha256_hex(jwks_text) + "|" +
                     std::to_string(cache_duration.count()) + "|" + std::to_string(refetch_interval.count());
    for (auto& p : pems) id += "|" + sha256_hex(p);
    return id;
}

std::vector<provider_spec> parse_providers(const YAML::Node& section, const std::string& path, config::diagnostics& d,
                                           std::vector<std::string>* files) {
    std::vector<provider_spec> out;
    if (!section.IsSequence()) {
        d.error(config::mark_of(section), path, "expected a list of providers");
        return out;
    }
    for (std::size_t i = 0; i < section.size(); ++i) {
        std::string ep = path + "[" + std::to_string(i) + "]";
        config::map_reader r(section[i], ep, d,
                             {"name", "issuer", "audiences", "algorithms", "jwks", "clock_skew", "require_expiration", "max_lifetime"});
        if (!r.ok()) continue;
        provider_spec p;
        if (auto n = r.string("name")) p.name = *n;
        else d.error(config::mark_of(section[i]), ep + ".name", "required");
        for (auto& o : out)
            if (o.name == p.name) r.error("name", "duplicate provider name '" + p.name + "'");
        if (auto s = r.string("issuer")) p.issuer = *s;
        if (auto a = r.string_list("audiences")) p.audiences = *a;
        if (auto a = r.string_list("algorithms")) {
            for (auto& name : *a) {
                if (auto al = alg_from_name(name)) p.algorithms.push_back(*al);
                else
                    r.error("algorithms", "unsupported algorithm '" + name +
                                              "' (HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA; never none)");
            }
        }
        if (auto v = r.duration_value("clock_skew")) p.clock_skew = *v;
        if (auto v = r.boolean("require_expiration")) p.require_expiration = *v;
        if (auto v = r.duration_value("max_lifetime")) p.max_lifetime = *v;
        if (!r.has("jwks")) {
            d.error(config::mark_of(section[i]), ep + ".jwks", "required: { url: ... }, { file: ... } or { keys: [...] }");
        } else {
            config::map_reader j(r.get("jwks"), r.child_path("jwks"), d,
                                 {"url", "file", "keys", "pem", "ca", "cache_duration", "refetch_interval", "kid_wait"});
            int sources = 0;
            if (auto u = j.string("url")) {
                ++sources;
                if (!u->starts_with("http://") && !u->starts_with("https://")) j.error("url", "must be an http:// or https:// URL");
                p.jwks_url = *u;
            }
            if (auto f = j.string("file")) {
                ++sources;
                p.jwks_file = *f;
                if (files) files->push_back(*f);
                if (auto text = read_text_file(*f, j.child_path("file"), config::mark_of(j.get("file")), d)) p.jwks_text = *text;
            }
            if (j.has("keys")) {
                ++sources;
                // inline JWKs, written as YAML mappings
                auto keys = j.get("keys");
                nlohmann::json arr = nlohmann::json::array();
                if (!keys.IsSequence()) j.error("keys", "expected a list of JWKs");
                else
                    for (auto k : keys) {
                        nlohmann::json o = nlohmann::json::object();
                        if (k.IsMap())
                            for (auto it = k.begin(); it != k.end(); ++it) o[it->first.Scalar()] = it->second.Scalar();
                        arr.push_back(o);
                    }
                p.jwks_text = nlohmann::json{{"keys", arr}}.dump();
            }
            if (auto pem = j.string("pem")) {
                ++sources;
                p.pems.push_back(*pem);
            }
            if (sources != 1) d.error(config::mark_of(r.get("jwks")), r.child_path("jwks"), "needs exactly one of url, file, keys and pem");
            if (auto ca = j.string("ca")) {
                p.jwks_ca = *ca;
                if (files) files->push_back(*ca);
                // A CA bundle that does not load is a config error, never a silent fall back to
                // no trust at all (every fetch would fail verification without saying why).
                std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
                if (!probe || SSL_CTX_load_verify_locations(probe.get(), ca->c_str(), nullptr) != 1) {
                    ERR_clear_error();
                    j.error("ca", "cannot load CA bundle '" + *ca + "'");
                }
            }
            if (auto v = j.duration_value("cache_duration")) p.cache_duration = *v;
            if (auto v = j.duration_value("refetch_interval")) p.refetch_interval = *v;
            if (auto v = j.duration_value("kid_wait")) p.kid_wait = *v;
            // Keys given here must load now: a broken key is a broken config.
            if (!p.jwks_text.empty()) {
                std::vector<std::string> errors;
                auto keys = keys_from_jwks(p.jwks_text, errors);
                for (auto& e : errors) d.error(config::mark_of(r.get("jwks")), r.child_path("jwks"), e);
                if (errors.empty() && keys.empty()) d.error(config::mark_of(r.get("jwks")), r.child_path("jwks"), "no keys");
            }
            for (auto& pem : p.pems) {
                std::string err;
                if (!key_from_pem(pem, err)) d.error(config::mark_of(r.get("jwks")), r.child_path("jwks.pem"), err);
            }
            j.finish();
        }
        r.finish();
        out.push_back(std::move(p));
    }
    return out;
}

struct provider::fetch_state {
    explicit fetch_state(asio::io_context& ioc) : timer(ioc) {}
    asio::steady_timer timer;
};

provider::provider(provider_spec spec, std::size_t workers, asio::io_context* control)
    : spec_(std::move(spec)), control_(control), slots_(workers), current_(std::make_shared<key_set>()), counters_(workers) {
    std::vector<verify_key> keys;
    if (!spec_.jwks_text.empty()) {
        std::vector<std::string> errors;
        keys = keys_from_jwks(spec_.jwks_text, errors);
    }
    for (auto& pem : spec_.pems) {
        std::string err;
        if (auto k = key_from_pem(pem, err)) keys.push_back(std::move(*k));
    }
    if (!keys.empty() || spec_.jwks_url.empty()) set_keys(std::move(keys), spec_.jwks_file.empty() ? "config" : spec_.jwks_file);
    if (control_) fetch_ = std::make_unique<fetch_state>(*control_);
    if (spec_.jwks_url.starts_with("https://")) {
        tls_.reset(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
        SSL_CTX_set_min_proto_version(tls_.get(), TLS1_2_VERSION);
        SSL_CTX_set_verify(tls_.get(), SSL_VERIFY_PEER, nullptr);
        if (spec_.jwks_ca.empty()) SSL_CTX_set_default_verify_paths(tls_.get());
        else if (SSL_CTX_load_verify_locations(tls_.get(), spec_.jwks_ca.c_str(), nullptr) != 1)
            spdlog::error("jwt provider {}: cannot load CA bundle '{}' (changed since the config was checked?): JWKS fetches will fail",
                          spec_.name, spec_.jwks_ca);
    }
}

provider::~provider() = default;

void provider::set_keys(std::vector<verify_key> keys, std::string source) {
    auto ks = std::make_shared<key_set>();
    ks->keys = std::move(keys);
    std::lock_guard lock(mu_);
    current_ = std::move(ks);
    last_result_ = "ok: " + std::to_string(current_->keys.size()) + " key(s) from " + source;
    last_fetch_ = std::chrono::system_clock::now();
    generation_.fetch_add(1, std::memory_order_release);
}

void provider::notify_after_fetch(std::function<void()> wake) {
    std::lock_guard lock(mu_);
    fetch_waiters_.push_back(std::move(wake));
}

void provider::wake_fetch_waiters() {
    std::vector<std::function<void()>> wake;
    {
        std::lock_guard lock(mu_);
        wake.swap(fetch_waiters_);
    }
    for (auto& w : wake) w();
}

const key_set& provider::keys(std::size_t worker) {
    auto& s = slots_[worker];
    auto g = generation_.load(std::memory_order_acquire);
    if (s.generation != g) {
        std::lock_guard lock(mu_);  // only after the keys changed: never on the steady path
        s.keys = current_;
        s.generation = generation_.load(std::memory_order_acquire);
    }
    return *s.keys;
}

void provider::start() {
    if (!spec_.jwks_url.empty() && control_) fetch();
}

void provider::request_refetch(std::function<void(const client_call&)> trace) {
    if (spec_.jwks_url.empty() || !control_) return;
    asio::post(*control_, [self = shared_from_this(), trace = std::move(trace)]() mutable {
        auto now = std::chrono::steady_clock::now();
        // The next fetch is for the first traced request that asks for it; one in flight was
        // started for another reason (and keeps its span).
        if (!self->fetching_ && !self->next_trace_) self->next_trace_ = std::move(trace);
        if (self->fetching_ || self->refetch_pending_) return;
        auto earliest = self->last_refetch_request_ + self->spec_.refetch_interval;
        if (now < earliest) {
            // Too soon after the last one: fetch once the interval has passed (no refetch storm,
            // and the waiting requests still get their answer).
            self->refetch_pending_ = true;
            self->schedule(std::chrono::duration_cast<duration>(earliest - now));
            return;
        }
        self->last_refetch_request_ = now;
        self->fetch_->timer.cancel();
        self->fetch();
    });
}

void provider::schedule(duration after) {
    fetch_->timer.expires_after(after);
    fetch_->timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->fetch();
    });
}

void provider::fetch() {
    if (fetching_) return;
    fetching_ = true;
    if (refetch_pending_) {
        refetch_pending_ = false;
        last_refetch_request_ = std::chrono::steady_clock::now();
    }
    auto self = shared_from_this();
    fetch_trace_ = std::move(next_trace_);  // the request it is for (null: the background's own)
    next_trace_ = nullptr;
    fetch_started_ = std::chrono::steady_clock::now();
    asio::co_spawn(*control_, fetch_jwks(spec_.jwks_url, tls_, [self](jwks_fetch_result r) { self->fetch_done(std::move(r)); }),
                   asio::detached);
}

// The fetch's CLIENT span: a child of the request that asked for it, else (a refresh, the first
// fetch, a retry) a trace of its own when the tracing rule samples one (docs/observability.md).
void provider::trace_fetch(const jwks_fetch_result& r, std::string_view error_type) {
    auto record = fetch_trace_ ? std::move(fetch_trace_) : observability::background_recorder();
    fetch_trace_ = nullptr;
    if (!record) return;
    client_call call;
    call.operation = "GET";
    call.url = spec_.jwks_url;
    call.server_address = r.host;
    std::uint16_t port = 0;
    std::from_chars(r.port.data(), r.port.data() + r.port.size(), port);
    call.server_port = port;
    call.peer_address = r.peer_address;
    call.peer_port = r.peer_port;
    call.status = r.status;
    call.error_type = error_type;
    call.start = fetch_started_;
    call.end = std::chrono::steady_clock::now();
    record(call);
}

void provider::fetch_done(jwks_fetch_result r) {
    fetching_ = false;
    std::string why = r.error;
    std::vector<std::string> errors;
    std::vector<verify_key> keys;
    if (r.ok) {
        keys = keys_from_jwks(r.body, errors);
        if (keys.empty()) why = errors.empty() ? "no keys" : errors.front();
    }
    std::string_view error_type = r.error_type;
    if (r.ok && keys.empty()) error_type = "invalid_jwks";  // a 200 without a usable key
    trace_fetch(r, error_type);
    if (!keys.empty()) {
        set_keys(std::move(keys), spec_.jwks_url);
        wake_fetch_waiters();
        for (auto& e : errors) spdlog::warn("jwt provider {}: {}: {}", spec_.name, spec_.jwks_url, e);
        backoff_ = 1s;
        duration next = spec_.cache_duration;
        if (auto p = r.cache_control.find("max-age="); p != std::string::npos) {
            long v = std::strtol(r.cache_control.c_str() + p + 8, nullptr, 10);
            if (v > 0) next = std::chrono::seconds(v);
        }
        schedule(std::max<duration>(1s, next * 8 / 10));  // refresh before the keys expire
        return;
    }
    {
        std::lock_guard lock(mu_);
        last_result_ = "failed: " + why + " (keeping " + std::to_string(current_->keys.size()) + " cached key(s))";
        last_fetch_ = std::chrono::system_clock::now();
    }
    wake_fetch_waiters();  // nothing new: the waiting requests decide with the keys they have
    spdlog::warn("jwt provider {}: fetching {} failed: {}; cached keys stay in use", spec_.name, spec_.jwks_url, why);
    schedule(backoff_);
    backoff_ = std::min<duration>(backoff_ * 2, 30s);
}

nlohmann::json provider::status() const {
    std::lock_guard lock(mu_);
    nlohmann::json keys = nlohmann::json::array();
    for (auto& k : current_->keys) {
        nlohmann::json j{{"kid", k.kid}, {"kty", k.kty}};
        if (!k.crv.empty()) j["crv"] = k.crv;
        if (k.key_alg) j["alg"] = alg_name(*k.key_alg);
        keys.push_back(j);
    }
    nlohmann::json algs = nlohmann::json::array();
    for (auto a : spec_.algorithms) algs.push_back(alg_name(a));
    const std::string buf = last_fetch_.time_since_epoch().count() ? util::iso_utc(last_fetch_) : std::string();
    return {{"name", spec_.name},
            {"issuer", spec_.issuer},
            {"source", !spec_.jwks_url.empty()    ? spec_.jwks_url
                       : !spec_.jwks_file.empty() ? spec_.jwks_file
                                                  : std::string("inline")},
            {"algorithms", algs},
            {"keys", keys},
            {"last_fetch", buf},
            {"last_result", last_result_}};
}

namespace {
util::identity_registry<provider> providers;
}  // namespace

std::shared_ptr<provider> get_provider(const provider_spec& spec, std::size_t workers, asio::io_context* control) {
    return providers.get(spec.identity(), [&] {
        auto p = std::make_shared<provider>(spec, workers, control);
        p->start();
        return p;
    });
}

const char* provider::result_name(std::size_t i) {
    static const char* names[k_results] = {"ok",          "missing",   "multiple",     "malformed",     "algorithm", "crit",
                                           "unknown_kid", "signature", "expired",      "not_yet_valid", "lifetime",  "issuer",
                                           "audience",    "claim",     "header_value", "forbidden"};
    return names[i];
}

std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, double>> validation_samples() {
    std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, double>> out;
    for (auto& p : providers.all())
        for (std::size_t r = 0; r < provider::k_results; ++r)
            out.push_back({{{"provider", p->spec().name}, {"result", provider::result_name(r)}}, static_cast<double>(p->total(r))});
    return out;
}

nlohmann::json providers_status() {
    nlohmann::json out = nlohmann::json::array();
    for (auto& p : providers.all()) out.push_back(p->status());
    return out;
}

}  // namespace gatehouse::middleware::jwt
