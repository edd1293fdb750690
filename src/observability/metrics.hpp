#pragma once
// The metrics registry: prometheus-cpp's Registry for control-plane metrics (reloads, build info),
// plus the per-worker request-path shards (stats.hpp), summed at scrape time into prometheus-cpp
// metric families and written with its TextSerializer. Served at /metrics on the admin listener.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "observability/stats.hpp"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace gatehouse::observability {

class metrics {
public:
    explicit metrics(std::size_t workers);
    ~metrics();

    // Control thread only (snapshot build, listener set-up): find or create by name.
    std::shared_ptr<route_stats> route(const std::string& name);
    std::shared_ptr<upstream_stats> upstream(const std::string& name);
    std::shared_ptr<listener_stats> listener(const std::string& name);

    void reload_result(bool ok, std::uint64_t generation);
    void set_generation(std::uint64_t generation);
    // Sources of figures kept elsewhere, read at scrape time.
    void set_access_log_drops(std::function<std::uint64_t()> f);

    // A counter family whose values live elsewhere (middleware), read at scrape time.
    struct sample {
        std::vector<std::pair<std::string, std::string>> labels;
        double value = 0;
    };
    void add_counter_family(std::string name, std::string help, std::function<std::vector<sample>()> collect);
    void add_gauge_family(std::string name, std::string help, std::function<std::vector<sample>()> collect);
    // A histogram family kept elsewhere: per label set, non-cumulative counts per upper bound
    // (the last one +Inf) and the sum of observations.
    struct histogram_sample {
        std::vector<std::pair<std::string, std::string>> labels;
        std::vector<double> bounds;
        std::vector<std::uint64_t> counts;  // bounds.size() + 1
        double sum = 0;
    };
    void add_histogram_family(std::string name, std::string help, std::function<std::vector<histogram_sample>()> collect);

    std::string scrape() const;  // control thread

private:
    std::size_t workers_;
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>* reloads_;
    prometheus::Gauge* generation_;
    prometheus::Gauge* last_success_;
    std::map<std::string, std::shared_ptr<route_stats>> routes_;
    std::map<std::string, std::shared_ptr<upstream_stats>> upstreams_;
    std::map<std::string, std::shared_ptr<listener_stats>> listeners_;
    std::function<std::uint64_t()> access_log_drops_;
    struct external_family {
        std::string name, help;
        std::function<std::vector<sample>()> collect;
        bool gauge = false;
    };
    std::vector<external_family> external_;
    struct external_histogram {
        std::string name, help;
        std::function<std::vector<histogram_sample>()> collect;
    };
    std::vector<external_histogram> external_histograms_;
};

// The route label for requests no route matched (or refused before routing).
inline constexpr const char* k_unmatched_route = "(unmatched)";

}  // namespace gatehouse::observability
