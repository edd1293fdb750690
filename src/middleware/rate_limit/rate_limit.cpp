// rate_limit: GCRA limits per key, exact across the workers of a process (local_table) or across
// every replica sharing a Redis store (one Lua script per request), with the IETF RateLimit /
// RateLimit-Policy fields on every answer and Retry-After on refusals (docs/middleware.md).
#include "middleware/rate_limit/rate_limit.hpp"

#include <boost/asio/awaitable.hpp>
#include <algorithm>
#include <charconv>

#include "config/path_template.hpp"
#include "gatehouse/config/middleware_spec.hpp"
#include "router/route_table.hpp"
#include "middleware/common.hpp"
#include "middleware/rate_limit/gcra.hpp"
#include "middleware/rate_limit/redis_script.hpp"
#include "middleware/registry.hpp"
#include "observability/metrics.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "redis/store.hpp"
#include "util/digest.hpp"
#include "util/identity_registry.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace gatehouse::middleware::rate_limit {

namespace asio = boost::asio;

namespace {

constexpr std::size_t k_max_limits = 8;

struct key_part {
    enum class kind { client_ip, consumer, route, header, claim, query, path } what = kind::client_ip;
    std::string name;
};

enum class on_error { local, allow, deny };

struct limit_spec {
    std::string name;
    std::vector<key_part> key;
    std::string key_text;  // as configured, for the identity and the admin API
    std::int64_t count = 0;
    std::chrono::seconds period{1};
    std::int64_t burst = -1;  // -1: the whole quota (count - 1)
    std::size_t max_keys = 100'000;
};

util::identity_registry<limit_state> limit_states;

struct rate_limit_spec final : config::middleware_spec {
    std::string owner;  // the route (or listener) it is configured on: metric label, Redis key
    std::vector<limit_spec> limits;
    std::optional<redis::store_spec> store;
    on_error fallback = on_error::local;
    int status = 429;
    bool headers = true;
    std::shared_ptr<const middleware> build(build_services& s, config::diagnostics& d) const override;
};

// The per-request decision (request_context::state): what the headers report.
struct decision {
    bool decided = false, limited = false;
    std::uint8_t n = 0;
    std::uint8_t limit_of[k_max_limits];  // which configured limit each figure belongs to
    std::uint32_t remaining[k_max_limits];
    std::uint32_t reset_s[k_max_limits];
    std::uint32_t retry_s = 0;
};

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
}

class rate_limiter final : public middleware {
public:
    rate_limiter(const rate_limit_spec& spec, std::vector<std::shared_ptr<limit_state>> states, std::shared_ptr<redis::store> store,
                 std::size_t workers)
        : spec_(spec), states_(std::move(states)), store_(std::move(store)), scratch_(workers) {
        for (std::size_t i = 0; i < spec_.limits.size(); ++i) {
            auto& l = spec_.limits[i];
            if (!policy_.empty()) policy_ += ", ";
            policy_ += '"' + l.name + "\";q=" + std::to_string(l.count) + ";w=" + std::to_string(l.period.count());
            params_.push_back(states_[i]->params);
        }
        if (store_) {
            script_sha_ = util::sha1_hex(k_gcra_script);
            for (std::size_t i = 0; i < spec_.limits.size(); ++i) {
                auto us = [](std::int64_t ns) { return std::to_string(std::max<std::int64_t>(1, ns / 1000)); };
                argv_.push_back(us(params_[i].emission));
                argv_.push_back(params_[i].tolerance == 0 ? "0" : us(params_[i].tolerance));
            }
        }
    }

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        auto& keys = scratch_[ctx.worker];
        std::size_t applies = build_keys(ctx, keys);
        auto& st = ctx.state<decision>();
        if (applies == 0) return verdict::next;  // no limit has its key in this request
        if (store_) {
            if (store_->available(ctx.worker)) return verdict::suspend;
            return store_failed(ctx, reply, st, keys);  // breaker open: no wait at all
        }
        return finish(ctx, reply, st, decide_local(ctx.mono, keys, st), result_allowed);
    }

    asio::awaitable<verdict> on_request_async(request_context& ctx, local_reply& reply) const override {
        auto& st = ctx.state<decision>();
        auto& keys = scratch_[ctx.worker];
        build_keys(ctx, keys);  // the same keys: the request's views are still valid
        std::string cmd = evalsha(ctx, keys, true);
        auto r = co_await store_->call(ctx.worker, *ctx.ioc, std::move(cmd), ctx.deadline, ctx.trace);
        if (r.ok() && r.reply.is_error() && r.reply.text.starts_with("NOSCRIPT")) {
            // Redis restarted or was flushed: send the script itself (it is cached again).
            cmd = evalsha(ctx, scratch_[ctx.worker], false);
            r = co_await store_->call(ctx.worker, *ctx.ioc, std::move(cmd), ctx.deadline, ctx.trace);
        }
        auto& k = scratch_[ctx.worker];
        build_keys(ctx, k);  // another request on this worker may have used the scratch meanwhile
        if (!r.ok() || !apply_reply(r.reply, k, st)) co_return store_failed(ctx, reply, st, k);
        co_return finish(ctx, reply, st, !st.limited, result_allowed);
    }

    void on_response_headers(request_context& ctx, response_edit& edit) const override {
        auto* st = ctx.find_state<decision>();
        if (!st || !st->decided || !spec_.headers) return;
        edit.add.emplace_back("RateLimit-Policy", policy_);
        std::string v;
        v.reserve(32 * st->n);
        std::size_t j = 0;
        for (; j < st->n; ++j) {
            if (!v.empty()) v += ", ";
            v += '"';
            v += spec_.limits[st->limit_of[j]].name;
            v += "\";r=";
            append_uint(v, st->remaining[j]);
            v += ";t=";
            append_uint(v, st->reset_s[j]);
        }
        edit.add.emplace_back("RateLimit", std::move(v));
        if (st->limited) {
            std::string ra;
            append_uint(ra, std::max<std::uint32_t>(1, st->retry_s));
            edit.add.emplace_back("Retry-After", std::move(ra));
        }
    }

private:
    enum result_kind { result_allowed = 0, result_limited = 1, result_fallback = 2 };

    struct keys_scratch {
        std::string buf;
        std::size_t begin[k_max_limits], end[k_max_limits];
        std::size_t limit[k_max_limits];  // which limit each built key belongs to
        std::size_t n = 0;
        std::string_view key(std::size_t j) const { return std::string_view(buf).substr(begin[j], end[j] - begin[j]); }
    };

    // The keys of the limits that apply to this request (a key part missing: that limit does
    // not apply). Built into the worker's scratch buffer: no allocation once it has grown.
    std::size_t build_keys(const request_context& ctx, keys_scratch& k) const {
        k.buf.clear();
        k.n = 0;
        for (std::size_t i = 0; i < spec_.limits.size(); ++i) {
            std::size_t start = k.buf.size();
            bool ok = true;
            for (std::size_t p = 0; p < spec_.limits[i].key.size() && ok; ++p) {
                if (p) k.buf += '\x1f';  // a separator no header value or address contains
                auto part = value_of(ctx, spec_.limits[i].key[p]);
                if (!part) ok = false;
                else k.buf += *part;
            }
            if (!ok) {
                k.buf.resize(start);
                continue;
            }
            k.begin[k.n] = start;
            k.end[k.n] = k.buf.size();
            k.limit[k.n] = i;
            ++k.n;
        }
        return k.n;
    }

    static std::optional<std::string_view> value_of(const request_context& ctx, const key_part& p) {
        switch (p.what) {
            case key_part::kind::client_ip: return ctx.client_address;
            case key_part::kind::route: return ctx.route;
            case key_part::kind::consumer:
                if (ctx.subject.empty()) return std::nullopt;
                return std::string_view(ctx.subject);
            case key_part::kind::header: return ctx.header(p.name);
            case key_part::kind::claim: return ctx.claim(p.name);
            case key_part::kind::query: return router::query_param(ctx.query, p.name);
            case key_part::kind::path: return ctx.path_vars.find(p.name);
        }
        return std::nullopt;
    }

    // Every applying limit decided under its shard's lock, all locks taken in address order (no
    // deadlock between workers), all or nothing. True when allowed.
    // `at`: the chain's start for a synchronous decision; the time now after a wait for Redis
    // (deciding with a clock 100 ms behind the other workers' would refuse for no reason).
    bool decide_local(std::chrono::steady_clock::time_point at, const keys_scratch& k, decision& st) const {
        const auto now = util::ns_of(at);
        local_table::shard* shards[k_max_limits];
        for (std::size_t j = 0; j < k.n; ++j) shards[j] = &states_[k.limit[j]]->table.shard_for(k.key(j));
        local_table::shard* order[k_max_limits];
        std::copy(shards, shards + k.n, order);
        std::sort(order, order + k.n);
        auto* last = std::unique(order, order + k.n);
        for (auto* p = order; p != last; ++p) (*p)->mu.lock();
        gcra_result r[k_max_limits];
        bool allowed = true;
        for (std::size_t j = 0; j < k.n; ++j) {
            r[j] = gcra_check(local_table::get(*shards[j], k.key(j)), now, params_[k.limit[j]]);
            allowed = allowed && r[j].allowed;
        }
        if (allowed)
            for (std::size_t j = 0; j < k.n; ++j) states_[k.limit[j]]->table.put(*shards[j], k.key(j), r[j].tat, now);
        for (auto* p = order; p != last; ++p) (*p)->mu.unlock();
        record_limits(st, k);
        st.limited = !allowed;
        st.retry_s = 0;
        for (std::size_t j = 0; j < k.n; ++j) {
            std::int64_t rem = static_cast<std::int64_t>(r[j].remaining), reset = r[j].reset;
            if (!allowed && r[j].allowed) {  // not consumed: what it had before this request
                rem += 1;
                reset -= params_[k.limit[j]].emission;
            }
            set_figures(st, j, rem, reset, 1);
        }
        return allowed;
    }

    static void record_limits(decision& st, const keys_scratch& k) {
        st.n = static_cast<std::uint8_t>(k.n);
        for (std::size_t j = 0; j < k.n; ++j) st.limit_of[j] = static_cast<std::uint8_t>(k.limit[j]);
    }

    static void set_figures(decision& st, std::size_t j, std::int64_t remaining, std::int64_t reset, std::int64_t unit_ns) {
        st.remaining[j] = static_cast<std::uint32_t>(std::clamp<std::int64_t>(remaining, 0, UINT32_MAX));
        auto secs = ceil_seconds(std::max<std::int64_t>(0, reset) * unit_ns);
        st.reset_s[j] = static_cast<std::uint32_t>(std::min<std::int64_t>(secs, UINT32_MAX));
        if (st.limited && remaining == 0) st.retry_s = std::max(st.retry_s, st.reset_s[j]);
    }

    std::string evalsha(const request_context& ctx, const keys_scratch& k, bool by_sha) const {
        std::vector<std::string> keys;
        keys.reserve(k.n);
        const auto& prefix = store_->spec().key_prefix;
        for (std::size_t j = 0; j < k.n; ++j) {
            std::string key = prefix + "rl:" + spec_.owner + ":" + spec_.limits[k.limit[j]].name + ":";
            key += k.key(j);
            keys.push_back(std::move(key));
        }
        std::vector<std::string_view> args;
        args.reserve(3 + 3 * k.n);
        args.push_back(by_sha ? "EVALSHA" : "EVAL");
        args.push_back(by_sha ? std::string_view(script_sha_) : std::string_view(k_gcra_script));
        std::string nkeys = std::to_string(k.n);
        args.push_back(nkeys);
        for (auto& s : keys) args.push_back(s);
        for (std::size_t j = 0; j < k.n; ++j) {
            args.push_back(argv_[2 * k.limit[j]]);
            args.push_back(argv_[2 * k.limit[j] + 1]);
        }
        (void)ctx;
        std::string out;
        redis::append_command(out, args);
        return out;
    }

    bool apply_reply(const redis::value& v, const keys_scratch& k, decision& st) const {
        if (v.type != redis::value::kind::array || v.elements.size() != 1 + 2 * k.n) return false;
        for (auto& e : v.elements)
            if (e.type != redis::value::kind::integer) return false;
        st.limited = v.elements[0].integer != 1;
        record_limits(st, k);
        st.retry_s = 0;
        for (std::size_t j = 0; j < k.n; ++j) set_figures(st, j, v.elements[1 + 2 * j].integer, v.elements[2 + 2 * j].integer, 1000);
        return true;
    }

    verdict store_failed(request_context& ctx, local_reply& reply, decision& st, const keys_scratch& k) const {
        switch (spec_.fallback) {
            case on_error::local: return finish(ctx, reply, st, decide_local(std::chrono::steady_clock::now(), k, st), result_fallback);
            case on_error::allow: count(ctx, k, result_fallback); return verdict::next;  // no figures to report: no RateLimit fields
            case on_error::deny:
                count(ctx, k, result_fallback);
                reply = {spec_.status, "rate limit store unavailable", {}};
                return verdict::reply;
        }
        return verdict::next;
    }

    verdict finish(request_context& ctx, local_reply& reply, decision& st, bool allowed, result_kind kind) const {
        auto& k = scratch_[ctx.worker];
        st.decided = true;
        count(ctx, k, allowed ? kind : result_limited);
        if (allowed) return verdict::next;
        // The policy that refused: the first applying limit with nothing left.
        std::string which;
        for (std::size_t j = 0; j < st.n; ++j)
            if (st.remaining[j] == 0) {
                which = spec_.limits[st.limit_of[j]].name;
                break;
            }
        reply = {spec_.status, "rate limit exceeded: " + which, {}};
        return verdict::reply;
    }

    void count(const request_context& ctx, const keys_scratch& k, result_kind kind) const {
        for (std::size_t j = 0; j < k.n; ++j)
            states_[k.limit[j]]->decisions[ctx.worker % states_[k.limit[j]]->decisions.size()].v[kind].add();
    }

    rate_limit_spec spec_;
    std::vector<std::shared_ptr<limit_state>> states_;
    std::vector<gcra_params> params_;
    std::shared_ptr<redis::store> store_;
    std::string policy_;  // RateLimit-Policy: the same on every answer
    std::string script_sha_;
    std::vector<std::string> argv_;
    mutable std::vector<keys_scratch> scratch_;  // per worker
};

std::shared_ptr<const middleware> rate_limit_spec::build(build_services& s, config::diagnostics&) const {
    std::vector<std::shared_ptr<limit_state>> states;
    std::string store_name = store ? store->name : "local";
    for (auto& l : limits) {
        gcra_params p;
        p.emission = std::chrono::duration_cast<std::chrono::nanoseconds>(l.period).count() / l.count;
        auto burst = l.burst < 0 ? l.count - 1 : l.burst;
        p.tolerance = burst * p.emission;
        std::string identity = owner + "|" + l.name + "|" + std::to_string(l.count) + "/" + std::to_string(l.period.count()) + "|" +
                               std::to_string(burst) + "|" + l.key_text + "|" + std::to_string(l.max_keys) + "|" + store_name + "|" +
                               std::to_string(s.workers);
        states.push_back(limit_states.get(identity, [&] {
            auto st = std::make_shared<limit_state>(l.max_keys, s.workers);
            st->owner = owner;
            st->name = l.name;
            st->rate = std::to_string(l.count) + "/" + std::to_string(l.period.count()) + "s";
            st->burst = burst;
            st->key = l.key_text;
            st->store = store_name;
            st->params = p;
            return st;
        }));
    }
    std::shared_ptr<redis::store> st;
    if (store) st = redis::get_store(*store, s.workers);
    return std::make_shared<rate_limiter>(*this, std::move(states), std::move(st), s.workers);
}

// `path_vars`: the route's template variables, for { path: NAME } (null: not on a route).
std::optional<key_part> parse_key_part(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                       const std::vector<std::string>* path_vars) {
    if (n.IsScalar()) {
        auto v = n.Scalar();
        if (v == "client_ip") return key_part{key_part::kind::client_ip, {}};
        if (v == "consumer") return key_part{key_part::kind::consumer, {}};
        if (v == "route") return key_part{key_part::kind::route, {}};
    } else if (n.IsMap() && n.size() == 1) {
        auto it = n.begin();
        auto k = it->first.Scalar();
        auto name = it->second.IsScalar() ? it->second.Scalar() : std::string();
        if (!name.empty()) {
            if (k == "header") {
                if (!is_header_name(name)) {
                    d.error(mark(it->second), path + ".header", "not a header name");
                    return std::nullopt;
                }
                return key_part{key_part::kind::header, util::ascii_lower(name)};
            }
            if (k == "claim") return key_part{key_part::kind::claim, name};
            if (k == "query") return key_part{key_part::kind::query, name};
            if (k == "path") {
                std::string ref = "{path." + name + "}", error;
                std::size_t end = 0;
                if (config::parse_path_reference(ref, 0, path_vars, end, error)) return key_part{key_part::kind::path, name};
                d.error(mark(it->second), path + ".path", error);
                return std::nullopt;
            }
        }
    }
    d.error(mark(n), path, "expected client_ip, consumer, route, { header: NAME }, { claim: NAME }, { query: NAME } or { path: NAME }");
    return std::nullopt;
}

// One part, or a list of parts (a composite key).
std::optional<std::vector<key_part>> parse_key(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                               const std::vector<std::string>* path_vars) {
    std::vector<key_part> out;
    if (n.IsSequence()) {
        if (n.size() == 0) {
            d.error(mark(n), path, "an empty key");
            return std::nullopt;
        }
        for (std::size_t i = 0; i < n.size(); ++i) {
            auto p = parse_key_part(n[i], path + "[" + std::to_string(i) + "]", d, path_vars);
            if (!p) return std::nullopt;
            out.push_back(*p);
        }
        return out;
    }
    auto p = parse_key_part(n, path, d, path_vars);
    if (!p) return std::nullopt;
    out.push_back(*p);
    return out;
}

std::optional<limit_spec> parse_limit(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                      const std::vector<std::string>* path_vars) {
    config::map_reader r(n, path, d, {"name", "key", "rate", "burst", "max_keys"});
    if (!r.ok()) return std::nullopt;
    limit_spec l;
    bool ok = true;
    if (auto v = r.string("name");
        v && !v->empty() && valid_header_value(*v) && v->find('"') == std::string::npos && v->find('\\') == std::string::npos)
        l.name = *v;
    else {
        d.error(mark(n), path + ".name", "required: a name without quotes or control characters (it is sent in RateLimit-Policy)");
        ok = false;
    }
    if (auto v = r.string("rate")) {
        if (auto parsed = parse_rate(*v)) {
            l.count = parsed->first;
            l.period = parsed->second;
        } else {
            r.error("rate", "expected N/s, N/m, N/h or N/d with N >= 1 (e.g. 100/s)");
            ok = false;
        }
    } else {
        d.error(mark(n), path + ".rate", "required (e.g. 100/s)");
        ok = false;
    }
    if (auto b = r.integer("burst", 0, 1'000'000'000)) l.burst = *b;
    if (auto m = r.integer("max_keys", 1, 100'000'000)) l.max_keys = static_cast<std::size_t>(*m);
    if (r.has("key")) {
        auto parts = parse_key(r.get("key"), r.child_path("key"), d, path_vars);
        if (!parts) ok = false;
        else l.key = *parts;
        l.key_text = YAML::Dump(r.get("key"));
    } else {
        l.key.push_back({key_part::kind::client_ip, {}});
        l.key_text = "client_ip";
    }
    r.finish();
    if (!ok) return std::nullopt;
    return l;
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                               const YAML::Node& root) {
    auto spec = std::make_shared<rate_limit_spec>();
    config::map_reader r(n, path, d, {"limits", "store", "on_store_error", "status", "headers"});
    if (!r.ok()) return nullptr;
    spec->owner = owner_of(path, root);
    if (!r.has("limits") || !r.get("limits").IsSequence() || r.get("limits").size() == 0) {
        d.error(mark(n), path + ".limits", "required: a list of { name, rate, key, burst }");
    } else {
        auto list = r.get("limits");
        std::set<std::string> names;
        const auto path_vars = route_path_variables(path, root);
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto p = r.child_path("limits") + "[" + std::to_string(i) + "]";
            if (auto l = parse_limit(list[i], p, d, path_vars ? &*path_vars : nullptr)) {
                if (!names.insert(l->name).second) d.error(mark(list[i]), p + ".name", "duplicate limit name '" + l->name + "'");
                spec->limits.push_back(std::move(*l));
            }
        }
        if (list.size() > k_max_limits) r.error("limits", "at most " + std::to_string(k_max_limits) + " limits per rate_limit");
    }
    if (auto s = r.string("store"); s && *s != "local") {
        config::diagnostics ignored;  // the section's own problems are reported once, by its validator
        std::vector<std::string> names;
        if (root["redis"].IsDefined())
            for (auto& st : redis::parse_stores(root["redis"], "redis", ignored, &spec->watched_files)) {
                names.push_back(st.name);
                if (st.name == *s) spec->store = st;
            }
        if (!spec->store) {
            std::string msg = "no redis entry named '" + *s + "' (or it is invalid)";
            if (auto g = config::did_you_mean(*s, names); !g.empty()) msg += " (did you mean '" + g + "'?)";
            r.error("store", msg);
        }
    }
    if (auto e = r.string("on_store_error")) {
        if (*e == "local") spec->fallback = on_error::local;
        else if (*e == "allow") spec->fallback = on_error::allow;
        else if (*e == "deny") spec->fallback = on_error::deny;
        else r.error("on_store_error", "expected local, allow or deny");
    }
    if (auto st = r.integer("status", 400, 599)) spec->status = static_cast<int>(*st);
    if (auto h = r.boolean("headers")) spec->headers = *h;
    r.finish();
    return spec;
}

}  // namespace

std::optional<std::pair<std::int64_t, std::chrono::seconds>> parse_rate(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::int64_t n = 0;
    auto num = text.substr(0, slash);
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
    if (ec != std::errc{} || p != num.data() + num.size() || n < 1 || n > 1'000'000'000) return std::nullopt;
    auto unit = text.substr(slash + 1);
    using namespace std::chrono_literals;
    if (unit == "s") return std::pair{n, std::chrono::seconds(1s)};
    if (unit == "m") return std::pair{n, std::chrono::seconds(60s)};
    if (unit == "h") return std::pair{n, std::chrono::seconds(3600s)};
    if (unit == "d") return std::pair{n, std::chrono::seconds(86400s)};
    return std::nullopt;
}

limit_state::limit_state(std::size_t max_keys, std::size_t workers) : table(max_keys), decisions(std::max<std::size_t>(1, workers)) {}

std::vector<std::shared_ptr<limit_state>> all_limits() { return limit_states.all(); }

nlohmann::json status(std::optional<std::string_view> key) {
    nlohmann::json limits = nlohmann::json::array();
    const auto now = util::ns_of(std::chrono::steady_clock::now());
    for (auto& l : all_limits()) {
        nlohmann::json j{{"route", l->owner},
                         {"limit", l->name},
                         {"rate", l->rate},
                         {"burst", l->burst},
                         {"key", l->key},
                         {"store", l->store},
                         {"keys_tracked", l->table.size()},
                         {"max_keys", l->table.max_keys()},
                         {"key_cap_hits", l->table.cap_hits()}};
        std::uint64_t d[3] = {0, 0, 0};
        for (auto& w : l->decisions)
            for (int i = 0; i < 3; ++i) d[i] += w.v[i].get();
        j["decisions"] = {{"allowed", d[0]}, {"limited", d[1]}, {"fallback", d[2]}};
        if (key) {
            auto& sh = l->table.shard_for(*key);
            std::int64_t tat;
            {
                std::lock_guard lock(sh.mu);
                tat = local_table::get(sh, *key);
            }
            auto r = gcra_check(tat, now, l->params);
            nlohmann::json k{{"key", *key},
                             {"tracked", tat > now},
                             {"remaining", r.allowed ? r.remaining + 1 : 0},
                             {"reset_seconds", ceil_seconds(r.allowed ? r.reset - l->params.emission : r.reset)}};
            if (l->store != "local") k["note"] = "the local table: with the Redis store up, the shared state is in Redis";
            j["state"] = k;
        }
        limits.push_back(j);
    }
    nlohmann::json stores = nlohmann::json::array();
    for (auto& s : redis::all_stores()) stores.push_back(s->status());
    return {{"limits", limits}, {"stores", stores}};
}

void add_metrics(observability::metrics& m) {
    using sample = observability::metrics::sample;
    m.add_counter_family(
        "gatehouse_rate_limit_decisions_total",
        "Rate-limit decisions by route, limit and result (fallback: decided without the shared store)", [] {
            std::vector<sample> out;
            static const char* names[3] = {"allowed", "limited", "fallback"};
            for (auto& l : all_limits()) {
                std::uint64_t d[3] = {0, 0, 0};
                for (auto& w : l->decisions)
                    for (int i = 0; i < 3; ++i) d[i] += w.v[i].get();
                for (int i = 0; i < 3; ++i)
                    out.push_back({{{"route", l->owner}, {"limit", l->name}, {"result", names[i]}}, static_cast<double>(d[i])});
            }
            return out;
        });
    m.add_gauge_family("gatehouse_rate_limit_keys", "Keys tracked in the local table of each limit", [] {
        std::vector<sample> out;
        for (auto& l : all_limits()) out.push_back({{{"route", l->owner}, {"limit", l->name}}, static_cast<double>(l->table.size())});
        return out;
    });
    m.add_counter_family("gatehouse_rate_limit_key_cap_hits_total", "Live keys dropped because a limit's table was full (max_keys)", [] {
        std::vector<sample> out;
        for (auto& l : all_limits()) out.push_back({{{"route", l->owner}, {"limit", l->name}}, static_cast<double>(l->table.cap_hits())});
        return out;
    });
    m.add_counter_family("gatehouse_redis_commands_total", "Redis commands by store and result", [] {
        std::vector<sample> out;
        for (auto& s : redis::all_stores()) {
            auto& st = s->stats();
            auto name = s->spec().name;
            out.push_back({{{"store", name}, {"result", "ok"}}, static_cast<double>(st.ok.load())});
            out.push_back({{{"store", name}, {"result", "error"}}, static_cast<double>(st.errors.load())});
            out.push_back({{{"store", name}, {"result", "timeout"}}, static_cast<double>(st.timeouts.load())});
            out.push_back({{{"store", name}, {"result", "unavailable"}}, static_cast<double>(st.unavailable.load())});
        }
        return out;
    });
    m.add_gauge_family("gatehouse_redis_store_shared", "1 while every worker uses the store, 0 while any is in fallback (breaker open)",
                       [] {
                           std::vector<sample> out;
                           for (auto& s : redis::all_stores()) out.push_back({{{"store", s->spec().name}}, s->all_available() ? 1.0 : 0.0});
                           return out;
                       });
    m.add_histogram_family("gatehouse_redis_command_duration_seconds",
                           "Time from queueing a Redis command to its reply (answered commands)", [] {
                               std::vector<observability::metrics::histogram_sample> out;
                               for (auto& s : redis::all_stores()) {
                                   auto& st = s->stats();
                                   observability::metrics::histogram_sample h;
                                   h.labels = {{"store", s->spec().name}};
                                   h.bounds.assign(redis::store_stats::k_bounds.begin(), redis::store_stats::k_bounds.end());
                                   for (auto& c : st.latency) h.counts.push_back(c.load());
                                   h.sum = static_cast<double>(st.latency_sum_us.load()) * 1e-6;
                                   out.push_back(std::move(h));
                               }
                               return out;
                           });
}

void register_rate_limit() {
    config::register_middleware_type("rate_limit", parse);
    config::register_config_section("redis", [](const YAML::Node& section, const std::string& path, config::diagnostics& d) {
        redis::parse_stores(section, path, d);
    });
}

}  // namespace gatehouse::middleware::rate_limit
