// routes[].compose calls with `cache: true`: the call's answer goes through the response store
// (src/cache/, shared with the cache middleware) under RFC 9111 as the middleware applies it:
// examine() decides what may be stored and for how long (the upstream's Cache-Control, Expires,
// the heuristic), a stored answer is used while fresh_at() holds, and the request fields the call
// sends select the variant (Vary). A stale answer with validators is revalidated (a 304 refreshes
// it), and concurrent misses of one key wait for the first (the store's coalescing) instead of
// each asking the origin. The key is the call's own URL, http://<upstream>/<path>, with the extra
// part "compose": a client whose Host names an upstream cannot read or fill these entries through
// a route's cache middleware (whose extras are "name=value" pairs or none).
#include <boost/asio/post.hpp>

#include <optional>

#include "cache/key.hpp"
#include "cache/store.hpp"
#include "http/composition.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"

namespace gatehouse::http {

namespace {
constexpr std::size_t k_no_unit = static_cast<std::size_t>(-1);  // a stored answer: no request was sent
constexpr std::string_view k_extras = "compose";

std::string key_of(const std::string& url) { return url + ' ' + std::string(k_extras); }

// The Cache-Control a stored answer gives the composition: what is left of its lifetime.
std::string remaining_cache_control(const cache::entry& e, cache::sys_time now) {
    const auto left = std::max(cache::seconds(0), e.lifetime - cache::current_age(e.age, now));
    const auto cc = e.field("cache-control");
    const bool is_private = cc && cc->find("private") != std::string_view::npos;
    return (is_private ? "private, max-age=" : "max-age=") + std::to_string(left.count());
}

// A stored answer as a call's response.
upstream::subresponse answer_of(const cache::entry& e, cache::sys_time now) {
    upstream::subresponse r;
    r.ok = true;
    r.status = e.status;
    for (const auto& [n, v] : e.fields)
        if (!iequals(n, "cache-control")) r.fields.emplace_back(n, v);
    r.fields.emplace_back("cache-control", remaining_cache_control(e, now));
    if (e.body) r.body = *e.body;
    return r;
}

// The request that leads a key's fill: the fill ends (its waiters wake) when the request's
// completion lets go of this, after the answer was stored, or when the call was cancelled.
struct fill_lead {
    fill_lead(std::string key, std::shared_ptr<cache::fill> fill) : key(std::move(key)), fill(std::move(fill)) {}
    fill_lead(const fill_lead&) = delete;
    fill_lead& operator=(const fill_lead&) = delete;
    ~fill_lead() { cache::store::instance().end_fill(key, fill); }
    std::string key;
    std::shared_ptr<cache::fill> fill;
};

// A request waiting for another one's fill of the same key: woken (from any worker's thread)
// when that one ended, it goes on on its own composition's event loop.
struct fill_waiter final : cache::waiter {
    fill_waiter(boost::asio::io_context& ioc, std::weak_ptr<composition> run, std::size_t i, std::size_t element, std::string path,
                std::string body)
        : ioc(ioc), run(std::move(run)), i(i), element(element), path(std::move(path)), body(std::move(body)) {}
    void wake() override {
        boost::asio::post(ioc, [run = run, i = i, element = element, path = path, body = body] {
            if (auto r = run.lock()) r->resume_after_fill(i, element, path, body);
        });
    }
    boost::asio::io_context& ioc;
    std::weak_ptr<composition> run;
    std::size_t i, element;
    std::string path, body;
};
}  // namespace

std::string composition::cache_url(std::size_t i, std::string_view path) const {
    const auto q = path.find('?');
    const auto query = q == std::string_view::npos ? std::string_view{} : path.substr(q + 1);
    std::string url;
    static const cache::key_settings k_all_query;
    cache::build_url(url, false, ex_->snap->clusters[route_.compose_upstreams[i]]->name, path.substr(0, q), query, k_all_query);
    return url;
}

std::vector<http::field> composition::sent_fields(const compose::call_config& c) const {
    std::vector<http::field> out{{"accept", "application/json"}};
    for (const auto& name : c.forward)
        for (const auto& [n, v] : inputs_.fields)
            if (n == name) out.push_back({n, v});
    return out;
}

composition::cache_step composition::consult_cache(std::size_t i, std::size_t element, const std::string& path, const std::string& body,
                                                   cache_plan& plan) {
    plan.url = cache_url(i, path);
    auto stored = answer_from_cache(i, element, plan.url, call_cache::hit);
    if (!stored) return cache_step::answered;
    auto& store = cache::store::instance();
    const auto key = key_of(plan.url);
    if (*stored && (*stored)->has_validator()) plan.stale = std::move(*stored);
    std::shared_ptr<cache::fill> led;
    std::shared_ptr<cache::waiter> w;
    auto joined = store.join_or_lead(
        key,
        [&] {
            return std::make_shared<fill_waiter>(ex_->host().ioc(), weak_from_this(), i, element, path, body);
        },
        led, w);
    if (joined) return cache_step::waiting;
    if (led) plan.lead = std::make_shared<fill_lead>(key, std::move(led));
    return cache_step::send;
}

void composition::resume_after_fill(std::size_t i, std::size_t element, const std::string& path, const std::string& body) {
    if (!ex_ || outcomes_[i].st != call_outcome::state::running) return;  // the composition ended meanwhile
    if (!answer_from_cache(i, element, cache_url(i, path), call_cache::coalesced)) return;
    // Nothing stored: when the answer could not be stored (hit-for-miss) to the origin at once;
    // when the leader failed (an error, a timeout, its composition gone), one of the woken
    // requests leads the key again and the others wait for it, rather than all of them asking an
    // origin that just failed at once. Each stays bounded by its own timeout.
    send_request(i, element, path, body);
}

std::optional<std::shared_ptr<const cache::entry>> composition::answer_from_cache(std::size_t i, std::size_t element, const std::string& url,
                                                                                   call_cache result) {
    const auto fields = sent_fields(cfg_.calls[i]);
    auto found = cache::store::instance().find(url, k_extras, key_of(url), fields);
    const auto now = std::chrono::system_clock::now();
    if (!found.hit || !cache::fresh_at(*found.hit, now)) return std::move(found.hit);  // a stale one (or none): to the origin
    ++outcomes_[i].cache[static_cast<std::size_t>(result)];
    // As a call ends: on the event loop, after whatever started it has returned.
    boost::asio::post(ex_->host().ioc(), [self = shared_from_this(), i, element, r = answer_of(*found.hit, now)]() mutable {
        self->on_response(i, element, k_no_unit, std::move(r));
    });
    return std::nullopt;
}

void composition::revalidated(std::size_t i, std::size_t unit, upstream::subresponse& r) {
    auto& sent = sent_[unit];
    if (!r.ok || r.status != 304) return;  // a full answer replaces the entry as any miss's would
    std::vector<http::field> views;
    views.reserve(r.fields.size());
    for (const auto& [n, v] : r.fields) views.push_back({n, v});
    const auto now = std::chrono::system_clock::now();
    std::shared_ptr<const cache::entry> e = cache::refreshed(*sent.stale, views, {}, sent.request_time, now);
    cache::store::instance().insert(e);
    r = answer_of(*e, now);
    sent.cache_url.clear();  // stored already
    ++outcomes_[i].cache[static_cast<std::size_t>(call_cache::revalidated)];
}

void composition::keep_in_cache(std::size_t i, const std::string& url, std::chrono::system_clock::time_point request_time,
                                upstream::subresponse& r) {
    const auto& c = cfg_.calls[i];
    const auto fields = sent_fields(c);
    std::vector<http::field> views;
    views.reserve(r.fields.size());
    for (const auto& [n, v] : r.fields) views.push_back({n, v});
    cache::storing how;
    how.authorized = std::any_of(fields.begin(), fields.end(), [](auto& f) { return f.name == "authorization"; });
    const bool stored = cache::store_response(url, std::string(k_extras),
                                              {r.status, views, std::move(r.body), request_time, std::chrono::system_clock::now()}, fields, how);
    // Its misses need not queue behind each other while its answers cannot be stored.
    if (!stored) cache::store::instance().mark_uncacheable(key_of(url), cache::k_hit_for_miss);
}

}  // namespace gatehouse::http
