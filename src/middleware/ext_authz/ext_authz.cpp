// ext_authz's runtime (ext_authz.hpp says what it is). on_request answers from the worker's
// front cache (front_cache.hpp, no lock) or the shared decision cache without waiting; a miss
// suspends, and on_request_async leads the call to the policy service (an upstream subrequest
// through request_context::upstream) or joins the one already running for the same key, then
// applies the decision: allow (the answer's upstream_headers to the upstream), deny (its status
// and deny_headers to the client), or error (a stale allow within stale_if_error, else on_error).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <array>
#include <atomic>
#include <map>

#include "middleware/common.hpp"
#include "middleware/ext_authz/check_request.hpp"
#include "middleware/ext_authz/decision_cache.hpp"
#include "middleware/ext_authz/ext_authz.hpp"
#include "middleware/ext_authz/front_cache.hpp"
#include "middleware/timer_waiter.hpp"
#include "observability/metrics.hpp"
#include "util/identity_registry.hpp"

namespace gatehouse::middleware::ext_authz {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// A waiter gives up this long after the call's own timeout (which ends the call and wakes it):
// only a stopped worker leaves it unwoken.
constexpr std::chrono::milliseconds k_grace{250};

// Counters of one route's ext_authz, per worker (no shared cache line on the request path; a
// worker only writes its own shard: a plain load and store, no read-modify-write), kept as long
// as the process (Prometheus counters never go back).
enum counter : std::size_t { n_allow, n_deny, n_error, n_hit, n_miss, n_stale, n_coalesced, k_counters };
struct authz_counts {
    std::string owner;
    struct alignas(64) shard {
        std::array<std::atomic<std::uint64_t>, k_counters> v{};
    };
    std::vector<shard> workers;
    static constexpr std::array<double, 10> k_bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
    std::array<std::atomic<std::uint64_t>, k_bounds.size() + 1> latency{};
    std::atomic<std::uint64_t> latency_sum_us{0};

    void count(std::size_t worker, counter c) {
        auto& v = workers[worker % workers.size()].v[c];
        v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    std::uint64_t total(counter c) const {
        std::uint64_t n = 0;
        for (auto& w : workers) n += w.v[c].load(std::memory_order_relaxed);
        return n;
    }
    void observe(clock::duration d) {
        const double s = std::chrono::duration<double>(d).count();
        std::size_t i = 0;
        while (i < k_bounds.size() && s > k_bounds[i]) ++i;
        latency[i].fetch_add(1, std::memory_order_relaxed);
        latency_sum_us.fetch_add(static_cast<std::uint64_t>(s * 1e6), std::memory_order_relaxed);
    }
};

util::identity_registry<authz_counts> counts_registry;

std::shared_ptr<authz_counts> counts_for(const std::string& owner, std::size_t workers) {
    return counts_registry.get_kept(owner + "|" + std::to_string(workers), [&] {
        auto r = std::make_shared<authz_counts>();
        r->owner = owner;
        r->workers = std::vector<authz_counts::shard>(std::max<std::size_t>(1, workers));
        return r;
    });
}

// A route's decisions, kept across reloads while everything that shapes them stays the same.
struct cache_home {
    std::string owner;
    decision_cache cache;
    cache_home(std::string o, std::size_t max_entries) : owner(std::move(o)), cache(max_entries) {}
};
util::identity_registry<cache_home> cache_registry;

std::string identity_of(const settings& s) {
    std::string id = s.owner + "|" + (s.how == mode::http ? "http" : "introspection") + "|" + s.upstream + "|" + s.path + "|" +
                     std::to_string(s.cache.max_entries);
    for (auto* list : {&s.send_headers, &s.upstream_headers, &s.deny_headers}) {
        id += "|";
        for (auto& h : *list) id += h + ",";
    }
    for (auto& sc : s.introspection.required_scopes) id += "|s:" + sc;
    for (auto& [c, h] : s.introspection.claims_to_headers) id += "|c:" + c + "=" + h;
    if (s.send_body.enabled) id += "|b:" + std::to_string(s.send_body.max) + (s.send_body.allow_partial ? "p" : "");
    id += "|" + util::sha256_hex(s.introspection.client_id + ":" + s.introspection.client_secret);
    return id;
}

// What a call's completion needs: alive after the request, and after the snapshot, ended.
struct shared_parts {
    settings s;
    std::shared_ptr<cache_home> home;
    std::shared_ptr<authz_counts> counts;
    // Per worker (by request_context::worker, each touched only by its worker): the lock-free
    // front of home->cache. Of this snapshot: after a reload the new one's fronts start empty.
    struct alignas(64) worker_front {
        front_cache front;
    };
    mutable std::vector<worker_front> fronts;

    void finished(const std::string& key, const std::shared_ptr<flight>& f, std::string_view client, clock::time_point start,
                  upstream_answer&& a) const {
        counts->observe(clock::now() - start);
        auto o = std::make_shared<outcome>(decide(a, s, std::chrono::system_clock::now()));
        for (auto& [name, value] : o->vary) value.assign(vary_value(name, client));
        if (s.cache.enabled) home->cache.insert(key, o, clock::now(), s.cache.stale_if_error);
        home->cache.end(key, f, std::move(o));
    }
};

const std::vector<credential_source> k_bearer{{credential_source::kind::bearer, "authorization"}};

class ext_authz_middleware final : public middleware {
public:
    explicit ext_authz_middleware(std::shared_ptr<const shared_parts> p) : p_(std::move(p)) {}

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        const auto& s = p_->s;
        for (auto& h : s.upstream_headers) ctx.remove_upstream_header(h);  // the client's own copies never pass
        for (auto& [claim, h] : s.introspection.claims_to_headers) ctx.remove_upstream_header(h);
        std::string_view token;
        if (s.how == mode::oauth2_introspection) {
            auto t = find_credential(ctx, k_bearer);
            if (!t) {
                p_->counts->count(ctx.worker, n_deny);
                reply = {401, "a bearer token is required", {{"WWW-Authenticate", "Bearer realm=\"gatehouse\""}}};
                return verdict::reply;
            }
            token = *t;
        }
        if (s.send_body.enabled && s.how == mode::http && ctx.has_body) return defer_to_body(ctx, s);
        if (!s.cache.enabled) {
            ctx.state<request_state>();  // an empty key: no cache to join
            return verdict::suspend;
        }
        return look_up_head(ctx, reply, token);
    }

    // send_body: asked once the body is here (its digest is part of the key).
    verdict on_request_body(request_context& ctx, std::string_view body, local_reply& reply) const override {
        auto* st = ctx.find_state<request_state>();
        if (!st || !st->deferred) return verdict::next;
        st->body = body.substr(0, p_->s.send_body.max);
        if (!p_->s.cache.enabled) return verdict::suspend;
        append_body_key(st->body, st->key);
        return look_up(ctx, reply, st->key, st->client, [](const found_fresh&) {});
    }

    // The same wait as a miss in on_request (no frame of its own: on_request_async's).
    asio::awaitable<verdict> on_request_body_async(request_context& ctx, std::string_view, local_reply& reply) const override {
        return on_request_async(ctx, reply);
    }

    asio::awaitable<verdict> on_request_async(request_context& ctx, local_reply& reply) const override {
        auto& st = ctx.state<request_state>();
        const bool coalesce = p_->s.cache.enabled;
        auto result = co_await ask(ctx, st.key, coalesce);
        // Another request led the call and the answer varies on what differs between the two.
        const bool foreign = !answer_applies(*result, st.deferred ? std::string_view(st.client) : ctx.client_address);
        if (foreign) result = co_await ask(ctx, st.key, false);
        if (result->result != outcome::kind::error) co_return apply(ctx, reply, *result);
        if (st.stale) {
            p_->counts->count(ctx.worker, n_stale);
            co_return apply(ctx, reply, *st.stale);
        }
        p_->counts->count(ctx.worker, n_error);
        if (p_->s.allow_on_error) co_return verdict::next;
        reply = {503, "the authorization service is unavailable"};
        co_return verdict::reply;
    }

private:
    struct request_state {
        std::string key;
        std::shared_ptr<const outcome> stale;
        // send_body: what on_request saw, for the body phase (the request's views end before it).
        sent_fields fields;
        std::string client;
        std::string_view body;  // the body phase's (valid until the call is made)
        bool deferred = false;
    };

    // send_body with a body: the check waits for it. The key's head part, the fields sent and
    // the client's address are taken now.
    verdict defer_to_body(request_context& ctx, const settings& s) const {
        auto& st = ctx.state<request_state>();
        st.deferred = true;
        st.client.assign(ctx.client_address);
        collect_sent_fields(ctx, s, st.fields);
        if (s.cache.enabled) append_key(ctx, s, {}, st.key);
        ctx.want_body(s.send_body.max, s.send_body.allow_partial);
        return verdict::next;
    }

    using found_fresh = decision_cache::found;

    // The hit path: the worker's front cache, compared with the key's pieces in place; then the
    // shared cache, whose fresh answer the front keeps.
    verdict look_up_head(request_context& ctx, local_reply& reply, std::string_view token) const {
        key_pieces pieces;
        collect_key_pieces(ctx, p_->s, token, pieces);
        auto& front = p_->fronts[ctx.worker % p_->fronts.size()].front;
        const auto generation = p_->home->cache.generation();  // before the shared find (decision_cache::purge)
        const auto hash = pieces.complete ? key_hash(pieces) : 0;
        if (pieces.complete)
            if (auto h = front.find(generation, hash, pieces, ctx.client_address, ctx.mono); h.what) {
                if (!h.touch.empty()) p_->home->cache.touch(h.touch);
                p_->counts->count(ctx.worker, n_hit);
                return apply(ctx, reply, *h.what);
            }
        thread_local std::string key;  // the worker's: no allocation once it has held a long key
        key.clear();
        append_key(ctx, p_->s, token, pieces, key);
        return look_up(ctx, reply, key, ctx.client_address, [&](const found_fresh& f) {
            if (pieces.complete) front.keep(generation, hash, key, f.fresh, f.fresh_until);
        });
    }

    // The shared cache's answer for `key` (a hit is passed to `on_fresh`, then applied), or a
    // miss that suspends.
    template <class OnFresh>
    verdict look_up(request_context& ctx, local_reply& reply, const std::string& key, std::string_view client, OnFresh&& on_fresh) const {
        auto found = p_->home->cache.find(key, client, ctx.mono);
        if (found.fresh) {
            p_->counts->count(ctx.worker, n_hit);
            on_fresh(found);
            return apply(ctx, reply, *found.fresh);
        }
        p_->counts->count(ctx.worker, n_miss);
        auto& st = ctx.state<request_state>();
        if (&st.key != &key) st.key = key;
        st.stale = std::move(found.stale);
        return verdict::suspend;
    }

    verdict apply(request_context& ctx, local_reply& reply, const outcome& o) const {
        if (o.result == outcome::kind::allow) {
            p_->counts->count(ctx.worker, n_allow);
            for (auto& [h, v] : o.headers) ctx.add_upstream_header(h, v);
            if (!o.subject.empty()) ctx.subject = o.subject;
            return verdict::next;
        }
        p_->counts->count(ctx.worker, n_deny);
        reply = {o.status, "denied by the authorization service", o.headers};
        return verdict::reply;
    }

    // The decision for `key`: from the call this request leads, or the one it joins (coalesce).
    asio::awaitable<std::shared_ptr<const outcome>> ask(request_context& ctx, std::string key, bool coalesce) const {
        auto w = std::make_shared<timer_waiter>(*ctx.ioc);
        std::shared_ptr<flight> f;
        bool leader = true;
        if (coalesce) {
            f = p_->home->cache.join(key, w, leader, clock::now(), p_->s.timeout);
        } else {
            f = std::make_shared<flight>();
            f->waiters.push_back(w);
        }
        if (leader) start_call(ctx, key, f);
        else p_->counts->count(ctx.worker, n_coalesced);
        if (!w->woken.load(std::memory_order_acquire)) {
            w->timer.expires_at(std::min(ctx.deadline, clock::now() + p_->s.timeout + k_grace));
            co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (!w->woken.load(std::memory_order_acquire)) {
            p_->home->cache.leave(key, f, w.get());
            co_return std::make_shared<const outcome>();  // an error: the wait ran out
        }
        co_return f->result;
    }

    void start_call(request_context& ctx, const std::string& key, const std::shared_ptr<flight>& f) const {
        const auto& s = p_->s;
        auto* st = ctx.find_state<request_state>();
        const bool deferred = st && st->deferred;
        sent_fields fields;
        std::string_view token;
        std::optional<std::string_view> body;
        if (deferred) {
            fields = st->fields;
            body = st->body;
        } else if (s.how == mode::http) {
            collect_sent_fields(ctx, s, fields);
        } else if (auto t = find_credential(ctx, k_bearer)) {
            token = *t;
        }
        auto req = build_request(s, token, std::move(fields), body);
        auto p = p_;
        const auto start = clock::now();
        std::string client(deferred ? std::string_view(st->client) : ctx.client_address);
        auto done = [p, key, f, client, start](upstream_answer&& a) { p->finished(key, f, client, start, std::move(a)); };
        if (ctx.upstream && ctx.upstream->call(std::move(req), std::move(done))) return;
        p_->finished(key, f, client, start, upstream_answer{});  // no such upstream: an error
    }

    std::shared_ptr<const shared_parts> p_;
};

}  // namespace

std::shared_ptr<const middleware> make_middleware(const settings& s, std::size_t workers) {
    auto p = std::make_shared<shared_parts>();
    p->s = s;
    p->home = cache_registry.get(identity_of(s), [&] { return std::make_shared<cache_home>(s.owner, s.cache.max_entries); });
    p->counts = counts_for(s.owner, workers);
    p->fronts = std::vector<shared_parts::worker_front>(std::max<std::size_t>(1, workers));
    return std::make_shared<ext_authz_middleware>(std::move(p));
}

std::optional<nlohmann::json> purge(std::string_view body, std::string& error) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    std::optional<std::string> route;
    if (j.is_object() && j.contains("route") && j["route"].is_string()) route = j["route"].get<std::string>();
    else if (!(j.is_object() && j.contains("all") && j["all"] == true)) {
        error = "expected {\"all\": true} or {\"route\": NAME}";
        return std::nullopt;
    }
    std::size_t n = 0;
    for (auto& h : cache_registry.all())
        if (!route || h->owner == *route) n += h->cache.purge();
    return nlohmann::json{{"purged", n}};
}

nlohmann::json status() {
    nlohmann::json out = nlohmann::json::array();
    std::map<std::string, std::size_t> entries;
    for (auto& h : cache_registry.all()) entries[h->owner] += h->cache.size();
    for (auto& c : counts_registry.all())
        out.push_back({{"route", c->owner},
                       {"entries", entries[c->owner]},
                       {"decisions", {{"allow", c->total(n_allow)}, {"deny", c->total(n_deny)}, {"error", c->total(n_error)}}},
                       {"cache",
                        {{"hit", c->total(n_hit)}, {"miss", c->total(n_miss)}, {"stale", c->total(n_stale)}, {"coalesced", c->total(n_coalesced)}}}});
    return out;
}

void add_metrics(observability::metrics& m) {
    using sample = observability::metrics::sample;
    m.add_counter_family("gatehouse_ext_authz_decisions_total", "ext_authz decisions by route and result (allow, deny, error)", [] {
        std::vector<sample> out;
        for (auto& c : counts_registry.all())
            for (auto [name, which] : {std::pair{"allow", n_allow}, std::pair{"deny", n_deny}, std::pair{"error", n_error}})
                out.push_back({{{"route", c->owner}, {"result", name}}, static_cast<double>(c->total(which))});
        return out;
    });
    m.add_counter_family(
        "gatehouse_ext_authz_cache_lookups_total",
        "ext_authz cache lookups by route and result (hit; miss; coalesced: a miss that joined a running call; stale: an allow "
        "served past its time because the service failed)",
        [] {
            std::vector<sample> out;
            for (auto& c : counts_registry.all())
                for (auto [name, which] : {std::pair{"hit", n_hit}, std::pair{"miss", n_miss}, std::pair{"coalesced", n_coalesced},
                                           std::pair{"stale", n_stale}})
                    out.push_back({{{"route", c->owner}, {"result", name}}, static_cast<double>(c->total(which))});
            return out;
        });
    m.add_gauge_family("gatehouse_ext_authz_cache_entries", "Keys held in each route's ext_authz decision cache", [] {
        std::map<std::string, std::size_t> entries;
        for (auto& h : cache_registry.all()) entries[h->owner] += h->cache.size();
        std::vector<sample> out;
        for (auto& [owner, n] : entries) out.push_back({{{"route", owner}}, static_cast<double>(n)});
        return out;
    });
    m.add_histogram_family("gatehouse_ext_authz_call_duration_seconds",
                           "Time from starting a call to the policy service to its decision (every call, failed ones too)", [] {
                               std::vector<observability::metrics::histogram_sample> out;
                               for (auto& c : counts_registry.all()) {
                                   observability::metrics::histogram_sample h;
                                   h.labels = {{"route", c->owner}};
                                   h.bounds.assign(authz_counts::k_bounds.begin(), authz_counts::k_bounds.end());
                                   for (auto& b : c->latency) h.counts.push_back(b.load(std::memory_order_relaxed));
                                   h.sum = static_cast<double>(c->latency_sum_us.load(std::memory_order_relaxed)) * 1e-6;
                                   out.push_back(std::move(h));
                               }
                               return out;
                           });
}

}  // namespace gatehouse::middleware::ext_authz
