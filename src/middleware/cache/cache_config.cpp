// The cache middleware's config (the route's `cache:` entry and the top-level `cache:` store
// section), its counters, the body tap that stores, and the admin API and metrics.
#include <algorithm>
#include <mutex>

#include "middleware/cache/cache.hpp"
#include "middleware/cache/cache_state.hpp"
#include "middleware/common.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "observability/metrics.hpp"
#include "util/identity_registry.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace gatehouse::middleware::cache {

using gatehouse::cache::store;

namespace {

util::identity_registry<route_counts> counts_registry;  // counters live as long as the process (get_kept)

}  // namespace

std::shared_ptr<route_counts> route_counts_for(const std::string& route, std::size_t workers) {
    return counts_registry.get_kept(route + "|" + std::to_string(workers), [&] {
        auto r = std::make_shared<route_counts>();
        r->route = route;
        r->shards = std::vector<route_counts::shard>(std::max<std::size_t>(1, workers));
        return r;
    });
}

std::vector<std::shared_ptr<route_counts>> all_route_counts() { return counts_registry.all(); }

// ---- the body tap ----

void body_store::begin(std::shared_ptr<gatehouse::cache::entry> draft, std::uint64_t limit, std::shared_ptr<gatehouse::cache::fill> f,
                       std::string key) {
    abandon();
    draft_ = std::move(draft);
    limit_ = limit;
    fill_ = std::move(f);
    key_ = std::move(key);
    body_.clear();
    active_ = true;
}

void body_store::data(std::string_view piece) {
    if (!active_) return;
    if (body_.size() + piece.size() > limit_) {  // over max_entry_bytes: streamed on, not stored
        abandon();
        return;
    }
    body_.append(piece);
}

void body_store::end() {
    if (!active_) return;
    draft_->body = std::make_shared<const std::string>(std::move(body_));
    draft_->compute_bytes();
    store::instance().insert(std::move(draft_));
    finish();
}

void body_store::abandon() {
    if (!active_) return;
    std::string().swap(body_);
    finish();
}

void body_store::finish() {
    active_ = false;
    draft_.reset();
    if (fill_) store::instance().end_fill(key_, fill_);
    fill_.reset();
}

void request_work::keep_request_fields(http::field_list f) {
    std::size_t total = 0;
    for (auto& x : f) total += x.name.size() + x.value.size();
    field_bytes.clear();
    field_bytes.reserve(total);  // appends below stay within it: the views never move
    fields.clear();
    for (auto& x : f) {
        const char* name = field_bytes.data() + field_bytes.size();
        field_bytes += x.name;
        const char* value = field_bytes.data() + field_bytes.size();
        field_bytes += x.value;
        fields.push_back({std::string_view(name, x.name.size()), std::string_view(value, x.value.size())});
    }
}

namespace {
constexpr std::size_t k_kept_work = 64;  // per worker thread
thread_local std::vector<std::unique_ptr<request_work>> spare_work;
}  // namespace

void recycle_work::operator()(request_work* w) const noexcept {
    w->tap.abandon();
    w->waiter.reset();
    w->joined.reset();
    w->secure = false;
    if (spare_work.size() >= k_kept_work || w->field_bytes.capacity() > 65536) {
        delete w;
        return;
    }
    spare_work.emplace_back(w);
}

work_ptr take_work() {
    if (spare_work.empty()) return work_ptr(new request_work);
    auto* w = spare_work.back().release();
    spare_work.pop_back();
    return work_ptr(w);
}

// ---- config ----

namespace {

// routes[].middleware[].cache
std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d,
                                               const YAML::Node& root) {
    auto spec = std::make_shared<cache_spec>();
    spec->owner = owner_of(path, root);
    if (n.IsNull()) return spec;  // `- cache:` with every default
    config::map_reader r(n, path, d,
                         {"default_ttl", "heuristic", "max_ttl", "stale_while_revalidate", "stale_if_error", "key", "lock_timeout",
                          "cache_authorized"});
    if (!r.ok()) return nullptr;
    auto secs = [](config::duration v) { return std::chrono::duration_cast<seconds>(v); };
    if (auto v = r.duration_value("default_ttl")) spec->fresh.default_ttl = secs(*v);
    if (auto v = r.boolean("heuristic")) spec->fresh.heuristic = *v;
    if (auto v = r.duration_value("max_ttl")) {
        spec->fresh.max_ttl = secs(*v);
        if (v->count() <= 0) r.error("max_ttl", "must be more than 0s");
    }
    if (auto v = r.duration_value("stale_while_revalidate")) spec->fresh.stale_while_revalidate = secs(*v);
    if (auto v = r.duration_value("stale_if_error")) spec->fresh.stale_if_error = secs(*v);
    if (auto v = r.duration_value("lock_timeout")) spec->lock_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*v);
    if (auto v = r.boolean("cache_authorized")) spec->cache_authorized = *v;
    if (r.has("key")) {
        config::map_reader k(r.get("key"), r.child_path("key"), d, {"headers", "query"});
        if (k.ok()) {
            if (auto h = k.string_list("headers"))
                for (auto& name : *h) {
                    if (!is_header_name(name)) k.error("headers", "'" + name + "' is not a header name");
                    else spec->key.headers.push_back(util::ascii_lower(name));
                }
            auto q = k.get("query");
            if (q.IsScalar() && (q.Scalar() == "all" || q.Scalar() == "none")) {
                spec->key.query = q.Scalar() == "all" ? gatehouse::cache::key_settings::query_mode::all
                                                      : gatehouse::cache::key_settings::query_mode::none;
                (void)k.string("query");
            } else if (q.IsSequence()) {
                if (auto names = k.string_list("query")) {
                    spec->key.query = gatehouse::cache::key_settings::query_mode::named;
                    spec->key.query_names = *names;
                    std::sort(spec->key.query_names.begin(), spec->key.query_names.end());
                }
            } else if (q) {
                k.error("query", "expected all, none or a list of parameter names");
            }
            k.finish();
        }
    }
    r.finish();
    // The store's limits, from the top-level section (validated there).
    auto section = root["cache"];
    if (section && section.IsMap()) {
        config::diagnostics quiet(d.file());
        config::map_reader s(section, "cache", quiet, {"max_bytes", "max_entry_bytes"});
        if (auto v = s.size_value("max_bytes")) spec->store_limits.max_bytes = *v;
        if (auto v = s.size_value("max_entry_bytes")) spec->store_limits.max_entry_bytes = *v;
    }
    return spec;
}

void validate_section(const YAML::Node& section, const std::string& path, config::diagnostics& d) {
    config::map_reader s(section, path, d, {"max_bytes", "max_entry_bytes"});
    if (!s.ok()) return;
    auto max = s.size_value("max_bytes");
    auto entry = s.size_value("max_entry_bytes");
    if (max && *max < 1024 * 1024) s.error("max_bytes", "at least 1MiB");
    if (entry && *entry == 0) s.error("max_entry_bytes", "must be more than 0");
    if (max && entry && *entry > *max) s.error("max_entry_bytes", "larger than max_bytes: nothing that size could be stored");
    s.finish();
}

nlohmann::json entry_json(const gatehouse::cache::entry& e, std::chrono::system_clock::time_point now, bool head) {
    auto age = gatehouse::cache::current_age(e.age, now).count();
    nlohmann::json j{{"key", e.key()},
                     {"url", e.url},
                     {"status", e.status},
                     {"age", age},
                     {"ttl", e.lifetime.count() - age},
                     {"bytes", e.bytes},
                     {"body_bytes", e.body ? e.body->size() : 0},
                     {"stored_at", util::iso_utc(e.age.response_time)}};
    if (!e.tags.empty()) j["tags"] = e.tags;
    if (!e.vary.empty()) {
        nlohmann::json v = nlohmann::json::object();
        for (auto& [n, val] : e.vary) v[n] = val;
        j["vary"] = v;
    }
    if (head) {
        nlohmann::json h = nlohmann::json::array();
        for (auto& [n, val] : e.fields) h.push_back({n, val});
        j["headers"] = h;
    }
    return j;
}

}  // namespace

nlohmann::json status(std::optional<std::string_view> url) {
    auto& s = store::instance();
    const auto now = std::chrono::system_clock::now();
    if (url) {
        auto wanted = gatehouse::cache::normalise_url(*url);
        nlohmann::json list = nlohmann::json::array();
        for (auto& e : s.entries())
            if (e->url == wanted) list.push_back(entry_json(*e, now, true));
        return {{"url", wanted}, {"entries", list}};
    }
    std::uint64_t hits = 0, total = 0;
    nlohmann::json routes = nlohmann::json::object();
    for (auto& c : all_route_counts()) {
        nlohmann::json r = nlohmann::json::object();
        std::array<std::uint64_t, k_result_names.size()> sum{};
        for (auto& sh : c->shards)
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += sh.v[i].get();
        for (std::size_t i = 0; i < sum.size(); ++i) r[k_result_names[i]] = sum[i];
        hits += sum[0] + sum[2] + sum[3] + sum[5];
        for (auto v : sum) total += v;
        routes[c->route] = r;
    }
    auto settings = s.settings();
    return {{"entries", s.stats().entries.load()},
            {"bytes", s.stats().bytes.load()},
            {"max_bytes", settings.max_bytes},
            {"max_entry_bytes", settings.max_entry_bytes},
            {"evictions", s.stats().evictions.load()},
            {"purges", s.stats().purges.load()},
            {"waiting", s.stats().waiting.load()},
            {"hit_ratio", total ? static_cast<double>(hits) / static_cast<double>(total) : 0.0},
            {"routes", routes}};
}

std::optional<nlohmann::json> purge(std::string_view body, std::string& error) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.size() != 1) {
        error = R"(expected one of {"keys": [...]}, {"urls": [...]}, {"tags": [...]}, {"all": true})";
        return std::nullopt;
    }
    auto& s = store::instance();
    std::size_t purged = 0;
    auto strings = [&](const char* name) -> std::optional<std::vector<std::string>> {
        auto it = j.find(name);
        if (it == j.end()) return std::nullopt;
        if (!it->is_array()) return std::vector<std::string>{};
        std::vector<std::string> out;
        for (auto& v : *it)
            if (v.is_string()) out.push_back(v.get<std::string>());
        return out;
    };
    if (auto keys = strings("keys")) {
        for (auto& k : *keys) purged += s.purge_key(k);
    } else if (auto urls = strings("urls")) {
        for (auto& u : *urls) {
            auto n = gatehouse::cache::normalise_url(u);
            if (n.empty()) {
                error = "not an http(s) URL: " + u;
                return std::nullopt;
            }
            purged += s.purge_url(n);
        }
    } else if (auto tags = strings("tags")) {
        for (auto& t : *tags) purged += s.purge_tag(t);
    } else if (j.contains("all") && j["all"] == true) {
        purged = s.purge_all();
    } else {
        error = R"(expected one of {"keys": [...]}, {"urls": [...]}, {"tags": [...]}, {"all": true})";
        return std::nullopt;
    }
    return nlohmann::json{{"purged", purged}};
}

void add_metrics(observability::metrics& m) {
    using sample = observability::metrics::sample;
    m.add_counter_family("gatehouse_cache_requests_total", "Requests on caching routes by route and result", [] {
        std::vector<sample> out;
        for (auto& c : all_route_counts()) {
            std::array<std::uint64_t, k_result_names.size()> sum{};
            for (auto& sh : c->shards)
                for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += sh.v[i].get();
            for (std::size_t i = 0; i < sum.size(); ++i)
                out.push_back({{{"route", c->route}, {"result", k_result_names[i]}}, static_cast<double>(sum[i])});
        }
        return out;
    });
    m.add_gauge_family("gatehouse_cache_bytes", "Bytes the response cache holds (bodies, heads and bookkeeping)", [] {
        return std::vector<sample>{{{}, static_cast<double>(store::instance().stats().bytes.load())}};
    });
    m.add_gauge_family("gatehouse_cache_entries", "Responses in the cache", [] {
        return std::vector<sample>{{{}, static_cast<double>(store::instance().stats().entries.load())}};
    });
    m.add_counter_family("gatehouse_cache_evictions_total", "Entries evicted to stay within cache.max_bytes", [] {
        return std::vector<sample>{{{}, static_cast<double>(store::instance().stats().evictions.load())}};
    });
    m.add_counter_family("gatehouse_cache_purges_total", "Entries removed by purges and by invalidation after unsafe requests", [] {
        return std::vector<sample>{{{}, static_cast<double>(store::instance().stats().purges.load())}};
    });
}

void register_cache() {
    config::register_middleware_type("cache", parse);
    config::register_config_section("cache", validate_section);
}

}  // namespace gatehouse::middleware::cache
