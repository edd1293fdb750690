#include "config/resilience_loader.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "grpc/status.hpp"

namespace gatehouse::config {

namespace {

const std::vector<std::string> k_outcome_names{"connect_failure", "reset", "timeout", "invalid_response", "5xx"};
// Every name an outcome list takes, for "did you mean".
const std::vector<std::string>& all_outcome_names() {
    static const std::vector<std::string> names = [] {
        auto v = k_outcome_names;
        for (int c = 1; c < grpc::k_status_count; ++c) v.emplace_back(grpc::config_name(static_cast<grpc::status_code>(c)));
        return v;
    }();
    return names;
}
const std::vector<std::string> k_methods{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH", "TRACE"};

std::optional<std::pair<int, int>> status_range(const std::string& s) {
    auto dash = s.find('-');
    auto num = [](std::string_view v) -> int {
        int n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        return ec == std::errc{} && p == v.data() + v.size() && n >= 100 && n <= 599 ? n : -1;
    };
    int lo = num(std::string_view(s).substr(0, dash));
    int hi = dash == std::string::npos ? lo : num(std::string_view(s).substr(dash + 1));
    if (lo < 0 || hi < 0 || hi < lo) return std::nullopt;
    return std::pair{lo, hi};
}

void read_limits(const YAML::Node& n, const std::string& path, diagnostics& d, upstream_limits_config& l) {
    map_reader r(n, path, d, {"max_connections", "max_pending", "max_requests", "max_retries"});
    if (!r.ok()) return;
    if (auto v = r.integer("max_connections", 1, 10'000'000)) l.max_connections = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer("max_pending", 0, 10'000'000)) l.max_pending = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer("max_requests", 1, 10'000'000)) l.max_requests = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer("max_retries", 0, 10'000'000)) l.max_retries = static_cast<std::uint64_t>(*v);
    r.finish();
}

breaker_config read_breaker(const YAML::Node& n, const std::string& path, diagnostics& d) {
    breaker_config b;
    b.failure.kinds = outcome_set::connect_failure | outcome_set::reset | outcome_set::timeout | outcome_set::invalid_response;
    b.failure.any_5xx = true;
    // A gRPC server's 503 is HTTP 200 with grpc-status UNAVAILABLE (14).
    b.failure.grpc_statuses = 1u << static_cast<int>(grpc::status_code::unavailable);
    map_reader r(n, path, d,
                 {"failure_rate", "window", "min_requests", "consecutive_failures", "open_for", "half_open_requests", "failure"});
    if (!r.ok()) return b;
    if (auto v = read_share(r, "failure_rate")) {
        if (*v <= 0) r.error("failure_rate", "must be above 0%");
        else b.failure_rate = *v;
    }
    if (auto v = r.duration_value("window")) {
        if (*v < 100ms) r.error("window", "must be at least 100ms");
        else b.window = *v;
    }
    if (auto v = r.integer("min_requests", 1, 10'000'000)) b.min_requests = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer("consecutive_failures", 0, 10'000'000)) b.consecutive_failures = static_cast<std::uint64_t>(*v);
    if (auto v = r.duration_value("open_for")) {
        if (v->count() <= 0) r.error("open_for", "must be positive");
        else b.open_for = *v;
    }
    if (auto v = r.integer("half_open_requests", 1, 10'000)) b.half_open_requests = static_cast<std::uint64_t>(*v);
    if (r.has("failure")) {
        outcome_set f;
        if (read_outcomes(r, "failure", f)) b.failure = f;
    }
    r.finish();
    return b;
}

outlier_config read_outlier(const YAML::Node& n, const std::string& path, diagnostics& d) {
    outlier_config o;
    map_reader r(n, path, d,
                 {"consecutive_5xx", "consecutive_gateway_errors", "base_ejection_time", "max_ejection_time", "max_ejection_percent"});
    if (!r.ok()) return o;
    if (auto v = r.integer("consecutive_5xx", 0, 1'000'000)) o.consecutive_5xx = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer("consecutive_gateway_errors", 0, 1'000'000)) o.consecutive_gateway_errors = static_cast<std::uint64_t>(*v);
    if (auto v = r.duration_value("base_ejection_time")) {
        if (v->count() <= 0) r.error("base_ejection_time", "must be positive");
        else o.base_ejection_time = *v;
    }
    if (auto v = r.duration_value("max_ejection_time")) o.max_ejection_time = *v;
    if (o.max_ejection_time < o.base_ejection_time)
        r.error(r.has("max_ejection_time") ? "max_ejection_time" : "base_ejection_time",
                "max_ejection_time must be at least base_ejection_time");
    if (auto v = r.integer("max_ejection_percent", 0, 100)) o.max_ejection_percent = static_cast<std::uint64_t>(*v);
    r.finish();
    return o;
}

health_check_config read_health_check(const YAML::Node& n, const std::string& path, diagnostics& d) {
    health_check_config h;
    map_reader r(n, path, d,
                 {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "expected_status", "host", "start_unhealthy",
                  "grpc"});
    if (!r.ok()) return h;
    if (auto p = r.string("path")) {
        if (p->empty() || p->front() != '/' || p->find_first_of(" \t\r\n") != std::string::npos)
            r.error("path", "must start with '/' and hold no spaces");
        else h.path = *p;
    }
    if (auto v = r.duration_value("interval")) {
        if (*v < 10ms) r.error("interval", "must be at least 10ms");
        else h.interval = *v;
    }
    if (auto v = r.duration_value("timeout")) {
        if (v->count() <= 0) r.error("timeout", "must be positive");
        else h.timeout = *v;
    }
    if (auto v = r.integer("healthy_threshold", 1, 1000)) h.healthy_threshold = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer("unhealthy_threshold", 1, 1000)) h.unhealthy_threshold = static_cast<std::uint64_t>(*v);
    if (r.has("expected_status")) {
        auto node = r.get("expected_status");
        std::vector<std::string> items;
        if (node.IsScalar()) items.push_back(node.Scalar());
        else if (auto l = r.string_list("expected_status")) items = *l;
        std::vector<std::pair<int, int>> ranges;
        for (auto& s : items) {
            if (auto rg = status_range(s)) ranges.push_back(*rg);
            else r.error("expected_status", "'" + s + "' is not a status (200) or a range (200-399) of statuses 100..599");
        }
        if (!ranges.empty()) h.expected_status = std::move(ranges);
    }
    if (auto v = r.string("host")) {
        if (v->empty() || v->find_first_of(" \t\r\n/@") != std::string::npos) r.error("host", "not a host name");
        else h.host = *v;
    }
    if (auto v = r.boolean("start_unhealthy")) h.start_unhealthy = *v;
    if (r.has("grpc")) {
        map_reader g(r.get("grpc"), r.child_path("grpc"), d, {"service"});
        if (g.ok()) {
            h.grpc_service = g.string("service").value_or("");  // empty: the server's overall health
            g.finish();
        }
        if (r.has("path") || r.has("expected_status")) r.error("grpc", "a gRPC health check has no path or expected_status");
    }
    r.finish();
    return h;
}

}  // namespace

std::optional<double> read_share(map_reader& r, const std::string& key) {
    auto v = r.string(key);
    if (!v) return std::nullopt;
    std::string s = *v;
    bool pct = !s.empty() && s.back() == '%';
    if (pct) s.pop_back();
    char* end = nullptr;
    double x = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || x < 0) {
        r.error(key, "expected a share such as 50% (or 0.5)");
        return std::nullopt;
    }
    if (!pct && (x > 1 || s.find('.') == std::string::npos)) pct = true;  // "50" means 50%
    if (pct) x /= 100;
    if (x > 1) {
        r.error(key, "must be at most 100%");
        return std::nullopt;
    }
    return x;
}

bool read_outcomes(map_reader& r, const std::string& key, outcome_set& out) {
    auto list = r.string_list(key);
    if (!list) return false;
    outcome_set set;
    bool ok = true;
    for (auto& item : *list) {
        auto it = std::find(k_outcome_names.begin(), k_outcome_names.end(), item);
        if (it == k_outcome_names.end()) {
            if (auto rg = status_range(item); rg && rg->first == rg->second && rg->first >= 400) {
                set.statuses.set(static_cast<std::size_t>(rg->first - 400));
                continue;
            }
            if (auto g = grpc::from_config_name(item); g && *g != grpc::status_code::ok) {
                set.grpc_statuses |= 1u << static_cast<int>(*g);
                continue;
            }
            std::string msg = "unknown outcome '" + item + "'";
            if (auto g = did_you_mean(item, all_outcome_names()); !g.empty()) msg += " (did you mean '" + g + "'?)";
            r.error(key, msg + "; one of connect_failure, reset, timeout, invalid_response, 5xx, a status 400..599 or a gRPC "
                             "status (unavailable, resource_exhausted, deadline_exceeded, ...)");
            ok = false;
            continue;
        }
        switch (it - k_outcome_names.begin()) {
            case 0: set.kinds |= outcome_set::connect_failure; break;
            case 1: set.kinds |= outcome_set::reset; break;
            case 2: set.kinds |= outcome_set::timeout; break;
            case 3: set.kinds |= outcome_set::invalid_response; break;
            default: set.any_5xx = true; break;
        }
    }
    if (ok) out = set;
    return ok;
}

void read_upstream_resilience(map_reader& r, upstream_config& u) {
    auto& d = r.diags();
    if (r.has("limits")) read_limits(r.get("limits"), r.child_path("limits"), d, u.limits);
    if (r.has("circuit_breaker")) u.circuit_breaker = read_breaker(r.get("circuit_breaker"), r.child_path("circuit_breaker"), d);
    if (r.has("outlier_detection")) u.outlier_detection = read_outlier(r.get("outlier_detection"), r.child_path("outlier_detection"), d);
    if (r.has("health_check")) u.health_check = read_health_check(r.get("health_check"), r.child_path("health_check"), d);
    if (auto v = r.duration_value("slow_start")) u.slow_start = *v;
    if (auto v = r.integer("panic_threshold", 0, 100)) u.panic_threshold = static_cast<std::uint64_t>(*v);
}

std::optional<retry_config> read_retry(const YAML::Node& n, const std::string& path, diagnostics& d) {
    map_reader r(n, path, d, {"attempts", "on", "per_try_timeout", "backoff", "budget", "min_retry_concurrency", "methods", "buffer_body"});
    if (!r.ok()) return std::nullopt;
    retry_config rc;
    rc.on.kinds = outcome_set::connect_failure | outcome_set::reset | outcome_set::timeout;
    for (int s : {502, 503, 504}) rc.on.statuses.set(static_cast<std::size_t>(s - 400));
    if (auto v = r.integer("attempts", 0, 10)) rc.attempts = static_cast<std::uint64_t>(*v);
    if (r.has("on")) read_outcomes(r, "on", rc.on);
    if (auto v = r.duration_value("per_try_timeout")) {
        if (v->count() <= 0) r.error("per_try_timeout", "must be positive");
        else rc.per_try_timeout = *v;
    }
    if (r.has("backoff")) {
        map_reader b(r.get("backoff"), r.child_path("backoff"), d, {"base", "max"});
        if (auto v = b.duration_value("base")) rc.backoff_base = *v;
        if (auto v = b.duration_value("max")) rc.backoff_max = *v;
        if (rc.backoff_max < rc.backoff_base) b.error(b.has("max") ? "max" : "base", "max must be at least base");
        b.finish();
    }
    if (auto v = read_share(r, "budget")) rc.budget = *v;
    if (auto v = r.integer("min_retry_concurrency", 0, 1'000'000)) rc.min_retry_concurrency = static_cast<std::uint64_t>(*v);
    if (auto m = r.string_list("methods")) {
        rc.methods.clear();
        for (auto x : *m) {
            std::transform(x.begin(), x.end(), x.begin(), [](unsigned char c) { return std::toupper(c); });
            if (x.empty() || x.find_first_of(" \t/") != std::string::npos) r.error("methods", "'" + x + "' is not a method");
            else rc.methods.push_back(x);
        }
    }
    if (auto v = r.size_value("buffer_body")) {
        // The body is replayed from the client connection's read buffer, which holds 64 KiB.
        if (*v > 64 * 1024) r.error("buffer_body", "at most 64KiB: a retried body is replayed from the connection's 64 KiB read buffer");
        else rc.buffer_body = *v;
    }
    r.finish();
    return rc;
}

}  // namespace gatehouse::config
