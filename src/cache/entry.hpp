#pragma once
// One stored response and how it is made: from a response head when it arrives (the miss that
// stores it), merged with a 304's fields when it is revalidated (RFC 9111 §4.3.4).
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/policy.hpp"

namespace gatehouse::cache {

struct entry {
    std::string url;     // scheme://host/path?query as keyed
    std::string extras;  // the route's extra key parts ("accept-language=en"), may be empty
    std::string key() const { return extras.empty() ? url : url + " " + extras; }
    std::vector<std::pair<std::string, std::string>> vary;  // (lower-case name, request value), sorted by name
    int status = 200;
    std::vector<std::pair<std::string, std::string>> fields;  // as stored: end-to-end, no Age/Content-Length/tags/Set-Cookie
    std::shared_ptr<const std::string> body;
    std::vector<std::string> tags;
    age_basis age;
    seconds lifetime{0};
    seconds stale_while_revalidate{0}, stale_if_error{0};
    bool must_revalidate = false;  // must-revalidate, proxy-revalidate or s-maxage: never served stale
    bool no_cache = false;         // every use revalidates
    std::string etag, last_modified;
    std::size_t bytes = 0;  // what it counts against max_bytes

    void set_fields(std::vector<std::pair<std::string, std::string>> f);
    std::optional<std::string_view> field(std::string_view name) const;
    bool has_validator() const { return !etag.empty() || !last_modified.empty(); }
    void compute_bytes();
};

// What a response head says about storing it, worked out once.
struct head_facts {
    response_directives cc;
    seconds lifetime{0};
    const char* not_storable = nullptr;  // why not, or nullptr
};
head_facts examine(int status, http::field_list fields, bool authorized, bool cache_authorized, const freshness_settings& s);

// A new entry (without body) for a response head: the fields kept (end-to-end, without Age,
// Content-Length, Set-Cookie and the tag fields), tags, validators, age and lifetime, and the
// request's values for the response's Vary names.
std::shared_ptr<entry> make_entry(std::string url, std::string extras, int status, http::field_list fields, http::field_list request_fields,
                                  const head_facts& facts, const freshness_settings& s, sys_time request_time, sys_time response_time);
// The entry refreshed by a 304 (§4.3.4): its fields updated by the 304's, a new age and
// lifetime; the body shared.
std::shared_ptr<entry> refreshed(const entry& old, http::field_list fields_304, const freshness_settings& s, sys_time request_time,
                                 sys_time response_time);

// Fresh at `now` (§4.2): younger than its lifetime and not no-cache. No request directives.
inline bool fresh_at(const entry& e, sys_time now) { return current_age(e.age, now) < e.lifetime && !e.no_cache; }

// Is a field kept in a stored head?
bool stored_field(std::string_view name, http::field_list fields);

}  // namespace gatehouse::cache
