// routes[].compose calls with `cache: true`: the call's answer goes through the response store
// (src/cache/, shared with the cache middleware) under RFC 9111 as the middleware applies it:
// examine() decides what may be stored and for how long (the upstream's Cache-Control, Expires,
// the heuristic), a stored answer is used while fresh_at() holds, and the request fields the call
// sends select the variant (Vary). The key is the call's own URL, http://<upstream>/<path>, with
// the extra part "compose": a client whose Host names an upstream cannot read or fill these
// entries through a route's cache middleware (whose extras are "name=value" pairs or none).
#include <boost/asio/post.hpp>

#include "cache/key.hpp"
#include "cache/store.hpp"
#include "http/composition.hpp"
#include "http/exchange.hpp"
#include "http/session_host.hpp"

namespace gatehouse::http {

namespace {
constexpr std::size_t k_no_unit = static_cast<std::size_t>(-1);  // a stored answer: no request was sent
constexpr std::string_view k_extras = "compose";

// The Cache-Control a stored answer gives the composition: what is left of its lifetime.
std::string remaining_cache_control(const cache::entry& e, cache::sys_time now) {
    const auto left = std::max(cache::seconds(0), e.lifetime - cache::current_age(e.age, now));
    const auto cc = e.field("cache-control");
    const bool is_private = cc && cc->find("private") != std::string_view::npos;
    return (is_private ? "private, max-age=" : "max-age=") + std::to_string(left.count());
}
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

bool composition::answer_from_cache(std::size_t i, std::size_t element, const std::string& url) {
    const auto fields = sent_fields(cfg_.calls[i]);
    const std::string key = url + ' ' + std::string(k_extras);
    auto found = cache::store::instance().find(url, k_extras, key, fields);
    const auto now = std::chrono::system_clock::now();
    if (!found.hit || !cache::fresh_at(*found.hit, now)) return false;
    const auto& e = *found.hit;
    upstream::subresponse r;
    r.ok = true;
    r.status = e.status;
    for (const auto& [n, v] : e.fields)
        if (!iequals(n, "cache-control")) r.fields.emplace_back(n, v);
    r.fields.emplace_back("cache-control", remaining_cache_control(e, now));
    if (e.body) r.body = *e.body;
    // As a call ends: on the event loop, after whatever started it has returned.
    boost::asio::post(ex_->host().ioc(), [self = shared_from_this(), i, element, r = std::move(r)]() mutable {
        self->on_response(i, element, k_no_unit, std::move(r));
    });
    return true;
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
    cache::store_response(url, std::string(k_extras), {r.status, views, std::move(r.body), request_time, std::chrono::system_clock::now()},
                          fields, how);
}

}  // namespace gatehouse::http
