#include "http/compose_metrics.hpp"

#include <algorithm>

#include "observability/metrics.hpp"
#include "util/identity_registry.hpp"

namespace gatehouse::http {

namespace {
util::identity_registry<compose_counts> registry;
}

std::size_t call_outcome_slot(std::string_view reason) {
    if (reason.empty()) return 0;
    auto it = std::find(k_call_outcomes.begin(), k_call_outcomes.end(), reason);
    return it == k_call_outcomes.end() ? k_call_outcomes.size() - 1 : static_cast<std::size_t>(it - k_call_outcomes.begin());
}

void compose_call_counts::observe(double ms) {
    const double s = ms / 1e3;
    std::size_t i = 0;
    while (i < observability::k_buckets.size() && s > observability::k_buckets[i]) ++i;
    latency[i].fetch_add(1, std::memory_order_relaxed);
    latency_sum_ns.fetch_add(static_cast<std::uint64_t>(ms * 1e6), std::memory_order_relaxed);
}

std::shared_ptr<compose_counts> compose_counts_for(const std::string& route, const std::vector<std::string>& calls) {
    std::string identity = route;
    for (auto& c : calls) identity += "\n" + c;
    return registry.get(identity, [&] {
        auto p = std::make_shared<compose_counts>();
        p->route = route;
        for (auto& c : calls) p->calls.emplace_back().name = c;
        return p;
    });
}

void add_compose_metrics(observability::metrics& m) {
    using sample = observability::metrics::sample;
    m.add_counter_family("gatehouse_compose_requests_total", "Compositions by route and outcome (complete, partial, failed)", [] {
        std::vector<sample> out;
        for (auto& c : registry.all()) {
            out.push_back({{{"route", c->route}, {"outcome", "complete"}}, static_cast<double>(c->complete.load())});
            out.push_back({{{"route", c->route}, {"outcome", "partial"}}, static_cast<double>(c->partial.load())});
            out.push_back({{{"route", c->route}, {"outcome", "failed"}}, static_cast<double>(c->failed.load())});
        }
        return out;
    });
    m.add_counter_family("gatehouse_compose_calls_total", "Composition calls by route, call and outcome (ok or the failure's reason)", [] {
        std::vector<sample> out;
        for (auto& c : registry.all())
            for (auto& call : c->calls)
                for (std::size_t i = 0; i < k_call_outcomes.size(); ++i)
                    if (auto v = call.outcomes[i].load(); v != 0)
                        out.push_back({{{"route", c->route}, {"call", call.name}, {"outcome", std::string(k_call_outcomes[i])}},
                                       static_cast<double>(v)});
        return out;
    });
    m.add_counter_family("gatehouse_compose_call_cache_total",
                         "Requests of composition calls with cache: true, by route, call and result (hit, miss, coalesced, revalidated)", [] {
                             std::vector<sample> out;
                             for (auto& c : registry.all())
                                 for (auto& call : c->calls)
                                     for (std::size_t i = 0; i < k_call_cache_results.size(); ++i)
                                         if (auto v = call.cache[i].load(); v != 0)
                                             out.push_back({{{"route", c->route}, {"call", call.name}, {"result", std::string(k_call_cache_results[i])}},
                                                            static_cast<double>(v)});
                             return out;
                         });
    m.add_histogram_family("gatehouse_compose_call_duration_seconds", "Composition call latency (start to response), by route and call", [] {
        std::vector<observability::metrics::histogram_sample> out;
        for (auto& c : registry.all())
            for (auto& call : c->calls) {
                observability::metrics::histogram_sample h;
                h.labels = {{"route", c->route}, {"call", call.name}};
                h.bounds.assign(observability::k_buckets.begin(), observability::k_buckets.end());
                for (auto& b : call.latency) h.counts.push_back(b.load());
                h.sum = static_cast<double>(call.latency_sum_ns.load()) / 1e9;
                out.push_back(std::move(h));
            }
        return out;
    });
}

}  // namespace gatehouse::http
