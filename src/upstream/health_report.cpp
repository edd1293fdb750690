#include "upstream/health_report.hpp"

#include <chrono>
#include <set>

#include "observability/metrics.hpp"
#include "upstream/retry.hpp"
#include "util/time.hpp"

namespace gatehouse::upstream {

using json = nlohmann::json;

namespace {

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }
steady_time now() { return std::chrono::steady_clock::now(); }

constexpr failure k_failures[] = {failure::no_endpoint, failure::pool_full, failure::breaker_open, failure::over_limit,
                                  failure::no_healthy,  failure::connect,   failure::tls,          failure::write,
                                  failure::closed,      failure::timeout,   failure::framing};

// One object per upstream name: the current snapshot's (an older one may still be held by a
// request in flight, and must not show up as a duplicate series).
std::vector<std::shared_ptr<upstream_health>> current(const current_clusters& clusters) {
    std::vector<std::shared_ptr<upstream_health>> out;
    std::set<std::string> seen;
    for (auto& c : clusters())
        if (c->health && seen.insert(c->name).second) out.push_back(c->health);
    return out;
}

}  // namespace

json health_json(upstream_health& h) {
    auto t = now();
    json out = json::object();
    if (auto* b = h.breaker()) {
        auto w = b->window(t);
        json jb = {{"state", to_string(b->state())},
                   {"window_requests", w.total},
                   {"window_failures", w.failed},
                   {"failure_rate", w.total ? static_cast<double>(w.failed) / static_cast<double>(w.total) : 0.0}};
        if (b->since().time_since_epoch().count() != 0) jb["seconds_in_state"] = seconds(t - b->since());
        if (b->state() == breaker_state::open) jb["open_for_seconds"] = seconds(b->open_left(t));
        out["circuit_breaker"] = jb;
    }
    const auto& l = h.limits();
    out["in_flight"] = {{"requests", h.requests.load()},
                        {"retries", h.retries.load()},
                        {"pending", h.pending.load()},
                        {"connections", h.connections.load()}};
    out["limits"] = {{"max_requests", l.max_requests},
                     {"max_retries", l.max_retries},
                     {"max_pending", l.max_pending},
                     {"max_connections", l.max_connections}};
    json rej = json::object();
    for (auto k : {limit_kind::max_connections, limit_kind::max_pending, limit_kind::max_requests, limit_kind::max_retries})
        rej[to_string(k)] = h.limit_rejections(k);
    out["limit_rejections"] = rej;
    json fails = json::object();
    for (auto f : k_failures)
        if (auto n = h.failures(f)) fails[failure_name(f)] = n;
    out["failures"] = fails;
    return out;
}

json endpoint_health_json(upstream_health& h, const std::string& key) {
    auto t = now();
    for (auto& e : h.endpoints()) {
        if (e->key != key) continue;
        json j = {{"usable", h.usable(*e, t)}};
        if (h.outlier()) {
            j["ejections"] = e->ejections.load();
            if (upstream_health::ejected(*e, t)) {
                auto left = std::chrono::nanoseconds(e->ejected_until_ns.load() - util::ns_of(t));
                j["ejected_for_seconds"] = seconds(left);
                j["ejected_until"] = util::iso_utc(std::chrono::system_clock::now() +
                                                   std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
            }
        }
        if (h.health_check()) {
            j["healthy"] = e->healthy.load();
            if (e->last_check_ns) {
                j["last_check_seconds_ago"] = seconds(std::chrono::nanoseconds(util::ns_of(t) - e->last_check_ns));
                j["last_status"] = e->last_status;
                if (!e->last_error.empty()) j["last_error"] = e->last_error;
            }
        }
        if (auto f = h.weight_factor(*e, t); f < 1.0) j["slow_start_weight"] = f;
        return j;
    }
    return json::object();
}

namespace {

using sample = observability::metrics::sample;

void add_breaker_metrics(observability::metrics& m, current_clusters clusters) {
    m.add_gauge_family("gatehouse_upstream_breaker_state", "Circuit breaker state of the upstream (1 for the state it is in)", [clusters] {
        std::vector<sample> out;
        for (auto& h : current(clusters)) {
            auto* b = h->breaker();
            if (!b) continue;
            for (auto s : {breaker_state::closed, breaker_state::open, breaker_state::half_open})
                out.push_back({{{"upstream", h->name()}, {"state", to_string(s)}}, b->state() == s ? 1.0 : 0.0});
        }
        return out;
    });
    m.add_counter_family("gatehouse_upstream_breaker_transitions_total", "Circuit breaker transitions by the state entered", [clusters] {
        std::vector<sample> out;
        for (auto& h : current(clusters))
            if (auto* b = h->breaker())
                for (auto s : {breaker_state::closed, breaker_state::open, breaker_state::half_open})
                    out.push_back({{{"upstream", h->name()}, {"to", to_string(s)}}, static_cast<double>(b->transitions(s))});
        return out;
    });
}

void add_endpoint_metrics(observability::metrics& m, current_clusters clusters) {
    m.add_counter_family("gatehouse_upstream_ejections_total", "Endpoints ejected by outlier detection, by reason", [clusters] {
        std::vector<sample> out;
        for (auto& h : current(clusters)) {
            if (!h->outlier()) continue;
            using r = upstream_health::ejection_reason;
            out.push_back(
                {{{"upstream", h->name()}, {"reason", "consecutive_5xx"}}, static_cast<double>(h->ejections(r::consecutive_5xx))});
            out.push_back({{{"upstream", h->name()}, {"reason", "consecutive_gateway_errors"}},
                           static_cast<double>(h->ejections(r::consecutive_gateway_errors))});
        }
        return out;
    });
    m.add_gauge_family("gatehouse_upstream_endpoints_unusable", "Endpoints out of rotation now (ejected or failing health checks)",
                       [clusters] {
                           std::vector<sample> out;
                           auto t = now();
                           for (auto& h : current(clusters)) {
                               if (!h->tracks_endpoints()) continue;
                               std::size_t n = 0;
                               for (auto& e : h->endpoints()) n += h->usable(*e, t) ? 0 : 1;
                               out.push_back({{{"upstream", h->name()}}, static_cast<double>(n)});
                           }
                           return out;
                       });
    m.add_counter_family("gatehouse_upstream_health_checks_total", "Active health checks by result", [clusters] {
        std::vector<sample> out;
        for (auto& h : current(clusters)) {
            if (!h->health_check()) continue;
            out.push_back({{{"upstream", h->name()}, {"result", "passed"}}, static_cast<double>(h->checks(true))});
            out.push_back({{{"upstream", h->name()}, {"result", "failed"}}, static_cast<double>(h->checks(false))});
        }
        return out;
    });
}

void add_refusal_metrics(observability::metrics& m, current_clusters clusters) {
    m.add_counter_family("gatehouse_upstream_limit_rejections_total", "Requests refused by an upstreams[].limits threshold", [clusters] {
        std::vector<sample> out;
        for (auto& h : current(clusters))
            for (auto k : {limit_kind::max_connections, limit_kind::max_pending, limit_kind::max_requests, limit_kind::max_retries})
                out.push_back({{{"upstream", h->name()}, {"limit", to_string(k)}}, static_cast<double>(h->limit_rejections(k))});
        return out;
    });
    m.add_counter_family(
        "gatehouse_upstream_failures_total",
        "Upstream tries that failed, by reason: gatehouse's own refusals (breaker_open, over_limit, no_endpoint, no_healthy, pool_full) "
        "and transport failures (connect, tls, write, closed, timeout, invalid_response)",
        [clusters] {
            std::vector<sample> out;
            for (auto& h : current(clusters))
                for (auto f : k_failures)
                    if (auto n = h->failures(f))
                        out.push_back({{{"upstream", h->name()}, {"reason", failure_name(f)}}, static_cast<double>(n)});
            return out;
        });
}

void add_retry_metrics(observability::metrics& m) {
    m.add_counter_family("gatehouse_upstream_retries_total", "Retries by route and the reason the try before failed", [] {
        std::vector<sample> out;
        for (auto& [route, c] : all_retry_counts())
            for (std::size_t r = 0; r < retry_counts::k_reasons; ++r)
                out.push_back({{{"route", route}, {"reason", reason_name(static_cast<retry_counts::reason>(r))}},
                               static_cast<double>(c->retries[r].load())});
        return out;
    });
    m.add_counter_family("gatehouse_upstream_retry_budget_exhausted_total", "Retries not made because the route's retry budget was spent",
                         [] {
                             std::vector<sample> out;
                             for (auto& [route, c] : all_retry_counts())
                                 out.push_back({{{"route", route}}, static_cast<double>(c->budget_exhausted.load())});
                             return out;
                         });
}

}  // namespace

void add_health_metrics(observability::metrics& m, current_clusters clusters) {
    add_breaker_metrics(m, clusters);
    add_endpoint_metrics(m, clusters);
    add_refusal_metrics(m, clusters);
    add_retry_metrics(m);
}

}  // namespace gatehouse::upstream
