#include "cache/entry.hpp"

#include <algorithm>

namespace gatehouse::cache {

void entry::set_fields(std::vector<std::pair<std::string, std::string>> f) { fields = std::move(f); }

std::optional<std::string_view> entry::field(std::string_view name) const {
    for (auto& [n, v] : fields)
        if (http::iequals(n, name)) return std::string_view(v);
    return std::nullopt;
}

void entry::compute_bytes() {
    constexpr std::size_t k_overhead = 256;  // the entry, its list node, map slot and control blocks
    bytes = k_overhead + url.size() + extras.size() + (body ? body->size() : 0) + etag.size() + last_modified.size();
    for (auto& [n, v] : fields) bytes += n.size() + v.size() + 32;
    for (auto& [n, v] : vary) bytes += n.size() + v.size() + 32;
    for (auto& t : tags) bytes += t.size() + 32;
}

namespace {

void take_facts(entry& e, const response_directives& cc, const freshness_settings& s) {
    e.stale_while_revalidate = cc.stale_while_revalidate.present && !cc.stale_while_revalidate.invalid
                                   ? seconds(cc.stale_while_revalidate.value)
                                   : s.stale_while_revalidate;
    e.stale_if_error = cc.stale_if_error.present && !cc.stale_if_error.invalid ? seconds(cc.stale_if_error.value) : s.stale_if_error;
    e.must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.present;
    e.no_cache = cc.no_cache;
    e.etag = std::string(e.field("etag").value_or(""));
    e.last_modified = std::string(e.field("last-modified").value_or(""));
}

std::vector<http::field> views_of(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::vector<http::field> v;
    v.reserve(fields.size());
    for (auto& [n, val] : fields) v.push_back({n, val});
    return v;
}

}  // namespace

bool stored_field(std::string_view n, http::field_list fields) {
    for (std::string_view skip : {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
                                  "content-length", "age", "set-cookie", "surrogate-key", "cache-tag", "cache-status"})
        if (http::iequals(n, skip)) return false;
    for (auto& f : fields)  // fields the Connection field nominates as hop-by-hop
        if (f.name.size() == 10 && http::iequals(f.name, "connection") && http::list_contains(f.value, n)) return false;
    return true;
}

head_facts examine(int status, http::field_list fields, bool authorized, bool cache_authorized, const freshness_settings& s) {
    head_facts h;
    h.cc = response_directives_of(fields);
    // The common refusals first: they need no dates parsed.
    if (h.cc.no_store) h.not_storable = "no-store";
    else if (h.cc.private_) h.not_storable = "private";
    else if (status < 200 || status == 206 || status == 304) h.not_storable = "status";
    if (h.not_storable) return h;
    h.lifetime = freshness_lifetime(status, h.cc, fields, std::chrono::system_clock::now(), s);
    h.not_storable = not_storable_reason("GET", status, h.cc, fields, authorized, cache_authorized, s, h.lifetime.count() > 0);
    return h;
}

std::shared_ptr<entry> make_entry(std::string url, std::string extras, int status, http::field_list fields, http::field_list request_fields,
                                  const head_facts& facts, const freshness_settings& s, sys_time request_time, sys_time response_time) {
    auto e = std::make_shared<entry>();
    e->url = std::move(url);
    e->extras = std::move(extras);
    e->status = status;
    std::vector<std::pair<std::string, std::string>> kept;
    for (auto& f : fields)
        if (stored_field(f.name, fields)) kept.emplace_back(std::string(f.name), std::string(f.value));
    e->set_fields(std::move(kept));
    for (auto& name : vary_of(fields).names) e->vary.emplace_back(name, vary_value(request_fields, name));
    e->tags = tags_of(fields);
    e->age = initial_age(fields, request_time, response_time);
    e->lifetime = facts.lifetime;
    take_facts(*e, facts.cc, s);
    return e;
}

std::shared_ptr<entry> refreshed(const entry& old, http::field_list fields_304, const freshness_settings& s, sys_time request_time,
                                 sys_time response_time) {
    auto e = std::make_shared<entry>(old);
    auto fields = old.fields;
    for (auto& f : fields_304) {
        if (!stored_field(f.name, fields_304)) continue;
        std::erase_if(fields, [&](auto& p) { return http::iequals(p.first, f.name); });
    }
    for (auto& f : fields_304)
        if (stored_field(f.name, fields_304)) fields.emplace_back(std::string(f.name), std::string(f.value));
    e->set_fields(std::move(fields));
    auto views = views_of(e->fields);
    auto cc = response_directives_of(views);
    e->age = initial_age(fields_304, request_time, response_time);
    e->lifetime = freshness_lifetime(e->status, cc, views, response_time, s);
    take_facts(*e, cc, s);
    e->compute_bytes();
    return e;
}

}  // namespace gatehouse::cache
