#include "upstream/health.hpp"

#include <algorithm>
#include <type_traits>

#include "util/identity_registry.hpp"
#include "util/time.hpp"

namespace gatehouse::upstream {

namespace {

util::identity_registry<upstream_health> g_registry;  // by health_identity()

std::string outcomes_identity(const config::outcome_set& o) {
    std::string id = std::to_string(o.kinds);
    if (o.any_5xx) id += 'x';
    id += o.statuses.to_string();
    return id;
}

}  // namespace

const char* to_string(limit_kind k) {
    switch (k) {
        case limit_kind::max_connections: return "max_connections";
        case limit_kind::max_pending: return "max_pending";
        case limit_kind::max_requests: return "max_requests";
        case limit_kind::max_retries: return "max_retries";
    }
    return "";
}

upstream_health::upstream_health(const config::upstream_config& u)
    : name_(u.name),
      limits_(u.limits),
      outlier_(u.outlier_detection),
      health_check_(u.health_check),
      slow_start_(std::chrono::duration_cast<std::chrono::nanoseconds>(u.slow_start)),
      panic_threshold_(u.panic_threshold) {
    if (u.circuit_breaker) breaker_.emplace(*u.circuit_breaker);
}

bool upstream_health::try_acquire(std::atomic<std::int64_t>& counter, limit_kind which) {
    std::uint64_t limit = 0;
    switch (which) {
        case limit_kind::max_connections: limit = limits_.max_connections; break;
        case limit_kind::max_pending: limit = limits_.max_pending; break;
        case limit_kind::max_requests: limit = limits_.max_requests; break;
        case limit_kind::max_retries: limit = limits_.max_retries; break;
    }
    if (static_cast<std::uint64_t>(counter.fetch_add(1, std::memory_order_relaxed) + 1) <= limit) return true;
    counter.fetch_sub(1, std::memory_order_relaxed);
    count_rejection(which);
    return false;
}

std::shared_ptr<endpoint_health> upstream_health::endpoint(const std::string& key, bool initial, steady_time now) {
    return endpoints_.get(key, [&] {
        auto p = std::make_shared<endpoint_health>(key);
        if (health_check_ && health_check_->start_unhealthy) p->healthy.store(false, std::memory_order_relaxed);
        if (!initial && slow_start_.count() > 0) p->usable_since_ns.store(util::ns_of(now), std::memory_order_relaxed);
        return p;
    });
}

std::vector<std::shared_ptr<endpoint_health>> upstream_health::endpoints() { return endpoints_.all(); }

bool upstream_health::ejected(const endpoint_health& e, steady_time now) {
    return e.ejected_until_ns.load(std::memory_order_relaxed) > util::ns_of(now);
}

bool upstream_health::usable(const endpoint_health& e, steady_time now) const {
    return e.healthy.load(std::memory_order_relaxed) && !ejected(e, now);
}

double upstream_health::weight_factor(const endpoint_health& e, steady_time now) const {
    if (slow_start_.count() <= 0) return 1.0;
    // It became usable when it arrived, when its ejection ended, or when it passed its checks.
    auto since = std::max(e.usable_since_ns.load(std::memory_order_relaxed), e.ejected_until_ns.load(std::memory_order_relaxed));
    if (since == 0) return 1.0;
    auto age = util::ns_of(now) - since;
    if (age >= slow_start_.count()) return 1.0;
    return std::max(0.1, static_cast<double>(std::max<std::int64_t>(age, 0)) / static_cast<double>(slow_start_.count()));
}

bool upstream_health::record(endpoint_health& e, endpoint_outcome o, steady_time now) {
    if (!outlier_) return false;
    switch (o) {
        case endpoint_outcome::neutral: return false;
        case endpoint_outcome::success:
            if (e.consecutive_5xx.load(std::memory_order_relaxed)) e.consecutive_5xx.store(0, std::memory_order_relaxed);
            if (e.consecutive_gateway.load(std::memory_order_relaxed)) e.consecutive_gateway.store(0, std::memory_order_relaxed);
            return false;
        case endpoint_outcome::status_5xx: {
            auto n = e.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1;
            if (outlier_->consecutive_5xx && n >= outlier_->consecutive_5xx) return eject(e, ejection_reason::consecutive_5xx, now);
            return false;
        }
        case endpoint_outcome::gateway_error: {
            // A gateway error is a 5xx as far as consecutive_5xx counts (Envoy does the same).
            auto n5 = e.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1;
            auto n = e.consecutive_gateway.fetch_add(1, std::memory_order_relaxed) + 1;
            if (outlier_->consecutive_gateway_errors && n >= outlier_->consecutive_gateway_errors)
                return eject(e, ejection_reason::consecutive_gateway_errors, now);
            if (outlier_->consecutive_5xx && n5 >= outlier_->consecutive_5xx) return eject(e, ejection_reason::consecutive_5xx, now);
            return false;
        }
    }
    return false;
}

bool upstream_health::eject(endpoint_health& e, ejection_reason why, steady_time now) {
    std::lock_guard lock(eject_mu_);  // one ejection decision at a time: the share below stays true
    e.consecutive_5xx.store(0, std::memory_order_relaxed);
    e.consecutive_gateway.store(0, std::memory_order_relaxed);
    if (ejected(e, now)) return false;
    auto all = endpoints_.all();
    std::size_t live = all.size(), out = 0;
    for (auto& p : all) out += ejected(*p, now) ? 1 : 0;
    // max_ejection_percent of the set, but one endpoint of a small set may always go (Envoy).
    if (live == 0 || ((out + 1) * 100 > outlier_->max_ejection_percent * live && out > 0) || outlier_->max_ejection_percent == 0)
        return false;
    auto times = e.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
    auto base = std::chrono::duration_cast<std::chrono::nanoseconds>(outlier_->base_ejection_time);
    auto cap = std::chrono::duration_cast<std::chrono::nanoseconds>(outlier_->max_ejection_time);
    auto length = std::min<std::chrono::nanoseconds>(base * times, cap);
    e.ejected_until_ns.store(util::ns_of(now + length), std::memory_order_relaxed);
    ejections_[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool upstream_health::check_result(endpoint_health& e, bool passed, steady_time now) {
    checks_[passed ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
    e.last_check_ns = util::ns_of(now);
    bool was = e.healthy.load(std::memory_order_relaxed);
    if (passed) {
        e.check_fails = 0;
        ++e.check_passes;
        if (!was && e.check_passes >= health_check_->healthy_threshold) {
            if (slow_start_.count() > 0) e.usable_since_ns.store(util::ns_of(now), std::memory_order_relaxed);
            e.healthy.store(true, std::memory_order_relaxed);
            return true;
        }
    } else {
        e.check_passes = 0;
        ++e.check_fails;
        if (was && e.check_fails >= health_check_->unhealthy_threshold) {
            e.healthy.store(false, std::memory_order_relaxed);
            return true;
        }
    }
    return false;
}

// Appends the parts, each after a comma. Built with += (not "lit" + std::string, on which GCC 12
// at -O3 reports a false -Wrestrict).
template <class... Parts>
void append_parts(std::string& id, const Parts&... parts) {
    auto one = [&id](const auto& p) {
        id += ',';
        if constexpr (std::is_arithmetic_v<std::decay_t<decltype(p)>>) id += std::to_string(p);
        else id += p;
    };
    (one(parts), ...);
}

std::string health_identity(const config::upstream_config& u) {
    std::string id = u.name;
    id += "|l";
    append_parts(id, u.limits.max_connections, u.limits.max_pending, u.limits.max_requests, u.limits.max_retries);
    if (auto& b = u.circuit_breaker) {
        id += "|b";
        append_parts(id, b->failure_rate, b->window.count(), b->min_requests, b->consecutive_failures, b->open_for.count(),
                     b->half_open_requests, outcomes_identity(b->failure));
    }
    if (auto& o = u.outlier_detection) {
        id += "|o";
        append_parts(id, o->consecutive_5xx, o->consecutive_gateway_errors, o->base_ejection_time.count(), o->max_ejection_time.count(),
                     o->max_ejection_percent);
    }
    if (auto& h = u.health_check) {
        id += "|h";
        append_parts(id, h->path, h->interval.count(), h->timeout.count(), h->healthy_threshold, h->unhealthy_threshold, h->host,
                     static_cast<int>(h->start_unhealthy), h->grpc_service ? "grpc:" + *h->grpc_service : std::string(),
                     static_cast<int>(u.protocol));
        for (auto& [lo, hi] : h->expected_status) append_parts(id, lo, hi);
    }
    id += "|s";
    append_parts(id, u.slow_start.count(), u.panic_threshold);
    return id;
}

std::shared_ptr<upstream_health> health_for(const config::upstream_config& u) {
    return g_registry.get(health_identity(u), [&] { return std::make_shared<upstream_health>(u); });
}

std::vector<std::shared_ptr<upstream_health>> all_health() { return g_registry.all(); }

}  // namespace gatehouse::upstream
