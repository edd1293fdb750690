#include "observability/metrics.hpp"

#include <malloc.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "grpc/status.hpp"

namespace gatehouse::observability {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::size_t method_slot(std::string_view m) {
    for (std::size_t i = 0; i + 1 < k_methods.size(); ++i)
        if (k_methods[i] == m) return i;
    return k_methods.size() - 1;
}

std::size_t code_slot(int status) {
    // k_codes is sorted: binary search, then fall back to the class slot.
    std::size_t lo = 0, hi = k_codes.size();
    while (lo < hi) {
        auto mid = (lo + hi) / 2;
        if (k_codes[mid] < status) lo = mid + 1;
        else hi = mid;
    }
    if (lo < k_codes.size() && k_codes[lo] == status) return lo;
    int cls = status / 100;
    if (cls < 1 || cls > 5) cls = 5;
    return k_codes.size() + static_cast<std::size_t>(cls - 1);
}

std::string code_label(std::size_t slot) {
    if (slot < k_codes.size()) return std::to_string(k_codes[slot]);
    return std::to_string(slot - k_codes.size() + 1) + "xx";
}

metrics::metrics(std::size_t workers) : workers_(workers), registry_(std::make_shared<prometheus::Registry>()) {
    reloads_ =
        &prometheus::BuildCounter().Name("gatehouse_config_reloads_total").Help("Config reload attempts by result").Register(*registry_);
    reloads_->Add({{"result", "success"}});
    reloads_->Add({{"result", "failure"}});
    generation_ = &prometheus::BuildGauge()
                       .Name("gatehouse_config_generation")
                       .Help("Generation of the config being served")
                       .Register(*registry_)
                       .Add({});
    last_success_ = &prometheus::BuildGauge()
                         .Name("gatehouse_config_last_reload_success_timestamp_seconds")
                         .Help("Unix time of the last successful config load")
                         .Register(*registry_)
                         .Add({});
    prometheus::BuildGauge()
        .Name("gatehouse_build_info")
        .Help("Build information")
        .Register(*registry_)
        .Add({{"version", GATEHOUSE_VERSION}})
        .Set(1);
}

metrics::~metrics() = default;

template <class T>
static std::shared_ptr<T> find_or_create(std::map<std::string, std::shared_ptr<T>>& m, const std::string& name, std::size_t workers) {
    auto& slot = m[name];
    if (!slot) slot = std::make_shared<T>(name, workers);
    return slot;
}

std::shared_ptr<route_stats> metrics::route(const std::string& name) { return find_or_create(routes_, name, workers_); }
std::shared_ptr<upstream_stats> metrics::upstream(const std::string& name) { return find_or_create(upstreams_, name, workers_); }
std::shared_ptr<listener_stats> metrics::listener(const std::string& name) { return find_or_create(listeners_, name, workers_); }

void metrics::reload_result(bool ok, std::uint64_t generation) {
    reloads_->Add({{"result", ok ? "success" : "failure"}}).Increment();
    if (ok) {
        generation_->Set(static_cast<double>(generation));
        last_success_->Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    }
}

void metrics::set_generation(std::uint64_t generation) { generation_->Set(static_cast<double>(generation)); }

void metrics::set_access_log_drops(std::function<std::uint64_t()> f) { access_log_drops_ = std::move(f); }

void metrics::add_counter_family(std::string name, std::string help, std::function<std::vector<sample>()> collect) {
    external_.push_back({std::move(name), std::move(help), std::move(collect), false});
}

void metrics::add_gauge_family(std::string name, std::string help, std::function<std::vector<sample>()> collect) {
    external_.push_back({std::move(name), std::move(help), std::move(collect), true});
}

void metrics::add_histogram_family(std::string name, std::string help, std::function<std::vector<histogram_sample>()> collect) {
    external_histograms_.push_back({std::move(name), std::move(help), std::move(collect)});
}

namespace {

MetricFamily family(std::string name, std::string help, MetricType type) {
    MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

ClientMetric value_metric(std::vector<ClientMetric::Label> labels, double v, MetricType type) {
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter) m.counter.value = v;
    else m.gauge.value = v;
    return m;
}

template <class Shards>
ClientMetric histogram_metric(std::vector<ClientMetric::Label> labels, const Shards& shards,
                              const histogram_shard Shards::value_type::*member) {
    ClientMetric m;
    m.label = std::move(labels);
    std::array<std::uint64_t, k_buckets.size() + 1> counts{};
    std::uint64_t sum_ns = 0;
    for (auto& s : shards) {
        const auto& h = s.*member;
        for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += h.buckets[i].get();
        sum_ns += h.sum_ns.get();
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < k_buckets.size(); ++i) {
        cumulative += counts[i];
        m.histogram.bucket.push_back({cumulative, k_buckets[i]});
    }
    cumulative += counts.back();
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(sum_ns) * 1e-9;
    return m;
}

void process_metrics(std::vector<MetricFamily>& out) {
    // /proc/self/stat: utime (14) and stime (15) in ticks, starttime (22) in ticks since boot.
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    auto rparen = line.rfind(')');
    std::istringstream rest(line.substr(rparen + 2));
    std::vector<std::string> f{"", "", ""};  // fields 1..2 consumed by the rfind
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    auto field = [&](std::size_t i) { return i < f.size() ? std::stod(f[i]) : 0.0; };
    double cpu = (field(14) + field(15)) / hz;
    double vsize = field(23);
    double rss = field(24) * static_cast<double>(sysconf(_SC_PAGESIZE));
    double boot = 0;
    std::ifstream st("/proc/stat");
    while (std::getline(st, line))
        if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
    double start = boot + field(22) / hz;
    std::size_t fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
        ++fds;
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);

    auto add = [&](const char* name, const char* help, MetricType t, double v) {
        auto fam = family(name, help, t);
        fam.metric.push_back(value_metric({}, v, t));
        out.push_back(std::move(fam));
    };
    add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::Counter, cpu);
    add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge, rss);
    add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, vsize);
    add("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, static_cast<double>(fds));
    add("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge, static_cast<double>(rl.rlim_cur));
    add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", MetricType::Gauge, start);
    // The allocator's view (Envoy's server.memory_allocated / memory_heap_size): resident memory
    // that grows while allocated bytes stay flat is the allocator holding freed memory, not a leak.
    struct mallinfo2 mi = ::mallinfo2();
    add("gatehouse_memory_allocated_bytes", "Heap bytes in use by the process (malloc's arenas and mmapped blocks).", MetricType::Gauge,
        static_cast<double>(mi.uordblks + mi.hblkhd));
    add("gatehouse_memory_heap_bytes", "Heap bytes malloc holds from the system, in use or free.", MetricType::Gauge,
        static_cast<double>(mi.arena + mi.hblkhd));
}

// gRPC calls by route and status (the config's spelling: unavailable, ...): 17 values at most.
MetricFamily grpc_responses(const std::map<std::string, std::shared_ptr<route_stats>>& routes) {
    auto fam = family("gatehouse_grpc_responses_total", "gRPC calls answered, by route and gRPC status", MetricType::Counter);
    for (auto& [name, r] : routes)
        for (std::size_t c = 0; c < grpc::k_status_count; ++c) {
            std::uint64_t n = 0;
            for (auto& s : r->shards) n += s.grpc_statuses[c].get();
            if (!n) continue;
            fam.metric.push_back(value_metric({{"grpc_status", std::string(grpc::config_name(static_cast<grpc::status_code>(c)))},
                                               {"route", name}},
                                              static_cast<double>(n), MetricType::Counter));
        }
    return fam;
}

}  // namespace

std::string metrics::scrape() const {
    std::vector<MetricFamily> fams = registry_->Collect();

    auto requests = family("gatehouse_http_requests_total", "HTTP requests answered, by route, method, status code and protocol",
                           MetricType::Counter);
    auto duration = family("gatehouse_http_request_duration_seconds",
                           "Time from the first byte of the request head to the last byte of the response", MetricType::Histogram);
    auto req_bytes = family("gatehouse_http_request_bytes_total", "Bytes received from clients (heads and bodies)", MetricType::Counter);
    auto resp_bytes = family("gatehouse_http_response_bytes_total", "Bytes sent to clients (heads and bodies)", MetricType::Counter);
    for (auto& [name, r] : routes_) {
        bool any = false;
        for (std::size_t p = 0; p < k_protocols.size(); ++p)
            for (std::size_t m = 0; m < k_methods.size(); ++m)
                for (std::size_t c = 0; c < k_code_slots; ++c) {
                    std::uint64_t n = 0;
                    for (auto& s : r->shards) n += s.requests[p][m][c].get();
                    if (!n) continue;
                    any = true;
                    requests.metric.push_back(value_metric({{"code", code_label(c)},
                                                            {"method", std::string(k_methods[m])},
                                                            {"protocol", std::string(k_protocols[p])},
                                                            {"route", name}},
                                                           static_cast<double>(n), MetricType::Counter));
                }
        if (!any) continue;
        duration.metric.push_back(histogram_metric({{"route", name}}, r->shards, &route_shard::duration));
        std::uint64_t in = 0, out = 0;
        for (auto& s : r->shards) {
            in += s.request_bytes.get();
            out += s.response_bytes.get();
        }
        req_bytes.metric.push_back(value_metric({{"route", name}}, static_cast<double>(in), MetricType::Counter));
        resp_bytes.metric.push_back(value_metric({{"route", name}}, static_cast<double>(out), MetricType::Counter));
    }
    for (auto* f : {&requests, &duration, &req_bytes, &resp_bytes}) fams.push_back(std::move(*f));
    fams.push_back(grpc_responses(routes_));

    auto conns = family("gatehouse_downstream_connections", "Open client connections, by listener", MetricType::Gauge);
    auto conns_total = family("gatehouse_downstream_connections_total", "Accepted client connections, by listener", MetricType::Counter);
    for (auto& [name, l] : listeners_) {
        std::uint64_t open = 0, total = 0;
        for (auto& s : l->shards) {
            open += s.open.get();
            total += s.total.get();
        }
        conns.metric.push_back(value_metric({{"listener", name}}, static_cast<double>(open), MetricType::Gauge));
        conns_total.metric.push_back(value_metric({{"listener", name}}, static_cast<double>(total), MetricType::Counter));
    }
    auto tls_fail = family("gatehouse_tls_handshake_failures_total",
                           "Failed TLS handshakes (bad client certificates, protocol errors, timeouts), by listener", MetricType::Counter);
    for (auto& [name, l] : listeners_) {
        std::uint64_t n = 0;
        for (auto& s : l->shards) n += s.tls_handshake_failures.get();
        tls_fail.metric.push_back(value_metric({{"listener", name}}, static_cast<double>(n), MetricType::Counter));
    }
    auto rejected = family("gatehouse_downstream_connections_rejected_total",
                           "Client connections closed at accept because a max_connections limit (listener or limits) was reached",
                           MetricType::Counter);
    for (auto& [name, l] : listeners_) {
        std::uint64_t n = 0;
        for (auto& s : l->shards) n += s.rejected.get();
        rejected.metric.push_back(value_metric({{"listener", name}}, static_cast<double>(n), MetricType::Counter));
    }
    fams.push_back(std::move(conns));
    fams.push_back(std::move(conns_total));
    fams.push_back(std::move(tls_fail));
    fams.push_back(std::move(rejected));
    auto accept_fail = family("gatehouse_accept_failures_total",
                              "accept() failures for want of resources (file descriptors, socket buffers, memory), by listener",
                              MetricType::Counter);
    for (auto& [name, l] : listeners_) {
        std::uint64_t n = 0;
        for (auto& s : l->shards) n += s.accept_failures.get();
        accept_fail.metric.push_back(value_metric({{"listener", name}}, static_cast<double>(n), MetricType::Counter));
    }
    fams.push_back(std::move(accept_fail));
    auto aborts = family(
        "gatehouse_client_aborts_total",
        "Requests the client abandoned (closed or reset its connection) before their response was written: phase request (also counted as status 499) or response",
        MetricType::Counter);
    for (auto& [name, l] : listeners_) {
        std::uint64_t req = 0, resp = 0;
        for (auto& s : l->shards) {
            req += s.aborts_request.get();
            resp += s.aborts_response.get();
        }
        aborts.metric.push_back(value_metric({{"listener", name}, {"phase", "request"}}, static_cast<double>(req), MetricType::Counter));
        aborts.metric.push_back(value_metric({{"listener", name}, {"phase", "response"}}, static_cast<double>(resp), MetricType::Counter));
    }
    fams.push_back(std::move(aborts));

    auto up_requests = family("gatehouse_upstream_requests_total", "Responses received from upstreams, by status code",
                              MetricType::Counter);
    auto up_duration = family("gatehouse_upstream_request_duration_seconds",
                              "Time from sending the request upstream to the end of its response", MetricType::Histogram);
    auto up_connect = family("gatehouse_upstream_connect_failures_total", "Failed connection attempts to upstream endpoints",
                             MetricType::Counter);
    auto up_pool = family("gatehouse_upstream_pool_connections", "Upstream connections held by the pools, by state", MetricType::Gauge);
    auto up_pending = family("gatehouse_upstream_pool_pending",
                             "Requests waiting for an upstream connection (every endpoint at max_connections)", MetricType::Gauge);
    auto up_overflow = family("gatehouse_upstream_pool_overflow_total",
                              "Requests answered 503 because the pending queue was full or the wait for a connection timed out",
                              MetricType::Counter);
    for (auto& [name, u] : upstreams_) {
        for (std::size_t c = 0; c < k_code_slots; ++c) {
            std::uint64_t n = 0;
            for (auto& s : u->shards) n += s.requests[c].get();
            if (n)
                up_requests.metric.push_back(
                    value_metric({{"code", code_label(c)}, {"upstream", name}}, static_cast<double>(n), MetricType::Counter));
        }
        up_duration.metric.push_back(histogram_metric({{"upstream", name}}, u->shards, &upstream_shard::duration));
        std::uint64_t fails = 0, active = 0, idle = 0, pending = 0, overflow = 0;
        for (auto& s : u->shards) {
            fails += s.connect_failures.get();
            active += s.pool_active.get();
            idle += s.pool_idle.get();
            pending += s.pool_pending.get();
            overflow += s.pool_overflow.get();
        }
        up_pending.metric.push_back(value_metric({{"upstream", name}}, static_cast<double>(pending), MetricType::Gauge));
        up_overflow.metric.push_back(value_metric({{"upstream", name}}, static_cast<double>(overflow), MetricType::Counter));
        up_connect.metric.push_back(value_metric({{"upstream", name}}, static_cast<double>(fails), MetricType::Counter));
        up_pool.metric.push_back(value_metric({{"state", "active"}, {"upstream", name}}, static_cast<double>(active), MetricType::Gauge));
        up_pool.metric.push_back(value_metric({{"state", "idle"}, {"upstream", name}}, static_cast<double>(idle), MetricType::Gauge));
    }
    for (auto* f : {&up_requests, &up_duration, &up_connect, &up_pool, &up_pending, &up_overflow}) fams.push_back(std::move(*f));

    auto drops = family("gatehouse_access_log_dropped_total", "Access log lines dropped because the writer fell behind",
                        MetricType::Counter);
    drops.metric.push_back(value_metric({}, access_log_drops_ ? static_cast<double>(access_log_drops_()) : 0.0, MetricType::Counter));
    fams.push_back(std::move(drops));
    for (auto& ext : external_) {
        auto type = ext.gauge ? MetricType::Gauge : MetricType::Counter;
        auto f = family(ext.name, ext.help, type);
        for (auto& s : ext.collect()) {
            std::vector<ClientMetric::Label> labels;
            for (auto& [k, v] : s.labels) labels.push_back({k, v});
            f.metric.push_back(value_metric(std::move(labels), s.value, type));
        }
        fams.push_back(std::move(f));
    }
    for (auto& ext : external_histograms_) {
        auto f = family(ext.name, ext.help, MetricType::Histogram);
        for (auto& s : ext.collect()) {
            ClientMetric m;
            for (auto& [k, v] : s.labels) m.label.push_back({k, v});
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < s.counts.size(); ++i) {
                cumulative += s.counts[i];
                m.histogram.bucket.push_back({cumulative, i < s.bounds.size() ? s.bounds[i] : std::numeric_limits<double>::infinity()});
            }
            m.histogram.sample_count = cumulative;
            m.histogram.sample_sum = s.sum;
            f.metric.push_back(std::move(m));
        }
        fams.push_back(std::move(f));
    }
    process_metrics(fams);

    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, fams);
    return out.str();
}

}  // namespace gatehouse::observability
