#include "admin/status_api.hpp"

#include <array>

#include "admin/admin_api.hpp"
#include "util/time.hpp"

namespace gatehouse::admin {

using nlohmann::json;

namespace {

double unix_seconds(std::chrono::system_clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

json listener_json(const listener_view& l) {
    json j{{"name", l.name}, {"address", address_text(l.listen)}, {"tls", l.tls != nullptr}, {"connections", l.open}};
    if (!l.stats) return j;
    std::uint64_t total = 0, rejected = 0, handshake_failures = 0, aborts = 0;
    for (auto& s : l.stats->shards) {
        total += s.total.get();
        rejected += s.rejected.get();
        handshake_failures += s.tls_handshake_failures.get();
        aborts += s.aborts_request.get() + s.aborts_response.get();
    }
    j["accepted"] = total;
    j["rejected"] = rejected;
    j["tls_handshake_failures"] = handshake_failures;
    j["client_aborts"] = aborts;
    return j;
}

json route_json(const router::compiled_route& r, const config::snapshot& snap) {
    json j{{"name", r.config.name}};
    if (!r.config.upstream.empty()) j["upstream"] = r.config.upstream;
    if (r.config.respond) j["respond"] = r.config.respond->status;
    if (r.config.redirect) j["redirect"] = r.config.redirect->status;
    const auto* stats = r.index < snap.route_stats.size() ? snap.route_stats[r.index].get() : nullptr;
    j["traffic"] = route_traffic_json(stats);
    return j;
}

}  // namespace

json route_traffic_json(const observability::route_stats* stats) {
    if (!stats) return nullptr;
    // code_label is the code ("404") or its class ("5xx"): the first digit is the class either way.
    std::array<std::uint64_t, 6> by_class{};
    for (auto& shard : stats->shards)
        for (auto& by_method : shard.requests)
            for (auto& by_code : by_method)
                for (std::size_t slot = 0; slot < by_code.size(); ++slot)
                    if (auto n = by_code[slot].get()) {
                        const char first = observability::code_label(slot).front();
                        by_class[first >= '1' && first <= '5' ? first - '0' : 0] += n;
                    }
    std::uint64_t total = 0;
    for (auto n : by_class) total += n;
    json responses = json::object();
    for (int c = 1; c <= 5; ++c) responses[std::to_string(c) + "xx"] = by_class[c];
    return {{"requests", total}, {"responses", responses}};
}

json certificate_json(const tls::server_context::certificate_info& c, std::string_view owner, std::chrono::system_clock::time_point now) {
    const double days_left = std::chrono::duration<double>(c.not_after - now).count() / 86400.0;
    return {{"listener", owner},
            {"file", c.file},
            {"names", c.names},
            {"not_before", util::iso_utc(c.not_before)},
            {"not_after", util::iso_utc(c.not_after)},
            {"days_left", days_left},
            {"expired", c.not_after <= now}};
}

json stats_to_json(const config::snapshot& snap, const std::vector<listener_view>& listeners, std::chrono::system_clock::time_point now) {
    json routes = json::array();
    for (auto& r : snap.routes->routes()) routes.push_back(route_json(r, snap));
    json unmatched = route_traffic_json(snap.unmatched_stats.get());
    json ls = json::array();
    json certificates = json::array();
    for (auto& l : listeners) {
        ls.push_back(listener_json(l));
        if (l.tls)
            for (auto& c : l.tls->certificates()) certificates.push_back(certificate_json(c, l.name, now));
    }
    if (snap.admin_tls)
        for (auto& c : snap.admin_tls->certificates()) certificates.push_back(certificate_json(c, "admin", now));
    return {{"time", unix_seconds(now)},
            {"generation", snap.generation},
            {"metrics", snap.unmatched_stats != nullptr},
            {"routes", routes},
            {"unmatched", unmatched},
            {"listeners", ls},
            {"certificates", certificates}};
}

}  // namespace gatehouse::admin
