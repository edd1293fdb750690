#include "discovery/manager.hpp"
#include "util/time.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

namespace gatehouse::discovery {

using steady = std::chrono::steady_clock;
using system = std::chrono::system_clock;

namespace {

std::string iso(system::time_point t) { return util::iso_utc(t); }

std::string summary(const endpoint_diff& d) {
    std::string s;
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
        if (keys.empty()) return;
        if (!s.empty()) s += "; ";
        s += what;
        for (std::size_t i = 0; i < keys.size() && i < 8; ++i) s += (i ? ", " : " ") + keys[i];
        if (keys.size() > 8) s += ", +" + std::to_string(keys.size() - 8) + " more";
    };
    list("added", d.added);
    list("removed", d.removed);
    list("changed", d.changed);
    return s;
}

}  // namespace

enum class state { waiting, ok, stale, failing };
const char* state_name(state s) {
    switch (s) {
        case state::waiting: return "waiting";
        case state::ok: return "ok";
        case state::stale: return "stale";
        case state::failing: return "failing";
    }
    return "?";
}

struct manager::entry : sink, std::enable_shared_from_this<manager::entry> {
    manager* owner = nullptr;
    upstream_discovery cfg;
    std::string key;  // spec identity
    std::shared_ptr<provider> running;
    std::shared_ptr<const endpoint_set> set = std::make_shared<endpoint_set>();
    bool answered = false;  // this entry's provider has published once
    bool had_set = false;   // a set is in service (own or inherited)
    state st = state::waiting;
    steady::time_point started = steady::now();
    system::time_point last_update{}, failing_since{};
    steady::time_point last_success{};
    std::string last_error;
    std::uint64_t changed = 0, unchanged = 0, errors = 0;
    bool stopped = false;
    bool timeout_warned = false;

    void publish(std::vector<endpoint> eps) override {
        if (stopped) return;
        eps = normalise(std::move(eps));
        last_update = system::now();
        last_success = steady::now();
        if (st == state::stale || st == state::failing) spdlog::info("upstream {}: discovery ({}) recovered", cfg.upstream, cfg.spec->type);
        st = state::ok;
        last_error.clear();
        answered = true;
        auto d = diff(set->endpoints, eps);
        if (d.empty() && had_set) {
            ++unchanged;
            return;
        }
        ++changed;
        auto next = std::make_shared<endpoint_set>();
        next->version = set->version + 1;
        next->endpoints = std::move(eps);
        spdlog::info("upstream {}: {} endpoint(s) from {} ({})", cfg.upstream, next->endpoints.size(), cfg.spec->type,
                     d.empty() ? std::string("first answer") : summary(d));
        set = next;
        had_set = true;
        owner->cb_(cfg.upstream, set);
    }

    void fail(std::string error) override {
        if (stopped) return;
        ++errors;
        last_update = system::now();
        auto next = had_set ? state::stale : state::failing;
        if (next != st) {  // logged once per state change; every failure is counted
            failing_since = system::now();
            if (next == state::stale)
                spdlog::warn("upstream {}: discovery ({}) failed: {}; keeping the last {} endpoint(s)", cfg.upstream, cfg.spec->type, error,
                             set->endpoints.size());
            else spdlog::warn("upstream {}: discovery ({}) failed: {}; no endpoints yet", cfg.upstream, cfg.spec->type, error);
        }
        st = next;
        last_error = std::move(error);
    }

    void start(boost::asio::io_context& control) {
        provider_services svc{control, *this, cfg.upstream};
        try {
            running = cfg.spec->start(svc);
        } catch (const std::exception& e) {
            fail(std::string("cannot start: ") + e.what());
        }
    }

    void stop() {
        stopped = true;
        if (running) running->stop();
        running.reset();
    }
};

manager::manager(boost::asio::io_context& control, on_change cb) : control_(control), cb_(std::move(cb)) {}

manager::~manager() { stop_all(); }

void manager::stop_all() {
    for (auto& [name, e] : entries_) e->stop();
    entries_.clear();
}

void manager::reconcile(const std::vector<upstream_discovery>& wanted) {
    std::map<std::string, std::shared_ptr<entry>> next;
    for (auto& w : wanted) {
        auto it = entries_.find(w.upstream);
        if (it != entries_.end() && it->second->key == w.spec->identity) {
            it->second->cfg = w;  // wait_for_first and its timeout may change freely
            next[w.upstream] = it->second;
            entries_.erase(it);
            continue;
        }
        auto e = std::make_shared<entry>();
        e->owner = this;
        e->cfg = w;
        e->key = w.spec->identity;
        if (it != entries_.end()) {
            // Discovery of this upstream changed: the old set serves until the new source answers.
            e->set = it->second->set;
            e->had_set = it->second->had_set;
            e->answered = it->second->answered;
            e->changed = it->second->changed;  // counters stay monotonic
            e->unchanged = it->second->unchanged;
            e->errors = it->second->errors;
            it->second->stop();
            entries_.erase(it);
        }
        next[w.upstream] = e;
        e->start(control_);
    }
    for (auto& [name, e] : entries_) e->stop();
    entries_ = std::move(next);
}

std::shared_ptr<const endpoint_set> manager::current(const std::string& upstream) const {
    auto it = entries_.find(upstream);
    return it == entries_.end() ? nullptr : it->second->set;
}

bool manager::ready(const std::set<std::string>& used) {
    bool all = true;
    for (auto& name : used) {
        auto it = entries_.find(name);
        if (it == entries_.end()) continue;
        auto& e = *it->second;
        if (e.answered || e.had_set || !e.cfg.wait_for_first) continue;
        if (steady::now() - e.started >= e.cfg.first_timeout) {
            if (!e.timeout_warned) {
                e.timeout_warned = true;
                spdlog::warn("upstream {}: discovery has not answered within {}; ready anyway, its requests get 503 until it does", name,
                             config::format_duration(e.cfg.first_timeout));
            }
            continue;
        }
        all = false;
    }
    return all;
}

nlohmann::json manager::status(const std::string& upstream) const {
    auto it = entries_.find(upstream);
    if (it == entries_.end()) return nullptr;
    auto& e = *it->second;
    nlohmann::json j{{"provider", e.cfg.spec->type},
                     {"source", e.cfg.spec->describe},
                     {"state", state_name(e.st)},
                     {"version", e.set->version}};
    if (e.st == state::stale) j["stale_since"] = iso(e.failing_since);
    j["last_update"] = e.last_update == system::time_point{} ? nlohmann::json(nullptr) : nlohmann::json(iso(e.last_update));
    j["last_error"] = e.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.last_error);
    j["updates"] = {{"changed", e.changed}, {"unchanged", e.unchanged}, {"error", e.errors}};
    nlohmann::json eps = nlohmann::json::array();
    for (auto& ep : e.set->endpoints) {
        nlohmann::json x{{"address", ep.key()}, {"name", ep.name}, {"weight", ep.weight}, {"priority", ep.priority}, {"source", ep.source}};
        if (!ep.zone.empty()) x["zone"] = ep.zone;
        eps.push_back(std::move(x));
    }
    j["endpoints"] = std::move(eps);
    return j;
}

std::vector<manager::figures> manager::metrics() const {
    std::vector<figures> out;
    for (auto& [name, e] : entries_) {
        figures f;
        f.upstream = name;
        f.changed = e->changed;
        f.unchanged = e->unchanged;
        f.errors = e->errors;
        f.endpoints = e->set->endpoints.size();
        if (e->last_success != steady::time_point{})
            f.seconds_since_success = std::chrono::duration<double>(steady::now() - e->last_success).count();
        out.push_back(f);
    }
    return out;
}

}  // namespace gatehouse::discovery
