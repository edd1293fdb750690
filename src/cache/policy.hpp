#pragma once
// RFC 9111 as arithmetic, free of I/O: Cache-Control parsing (request and response), HTTP
// dates, what may be stored, freshness lifetime and age (§4.2), and the cache key's parts. The
// cache middleware (src/middleware/cache/) and the store (store.hpp) use it; tests/unit and the
// fuzz targets call it directly.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::cache {

using seconds = std::chrono::seconds;
using sys_time = std::chrono::system_clock::time_point;

// A delta-seconds value (§1.2.2): absent, or a number (values too large for 31 bits are
// 2^31, as the RFC asks). `invalid` marks a directive whose argument did not parse.
struct delta {
    bool present = false;
    bool invalid = false;
    std::int64_t value = 0;
};

// Cache-Control of a response (§5.2.2). Every field of the name is merged; a directive given
// twice keeps its first value (and is reported in `duplicates`: §4.2.1 says such a response is
// to be treated as stale, which the freshness below does when the duplicate is a lifetime).
struct response_directives {
    delta max_age, s_maxage, stale_while_revalidate, stale_if_error;
    bool no_store = false, no_cache = false, private_ = false, public_ = false;
    bool must_revalidate = false, proxy_revalidate = false, no_transform = false;
    bool duplicate_lifetime = false;  // max-age or s-maxage given twice with different values
};

// Cache-Control of a request (§5.2.1), plus Pragma: no-cache when the request has no
// Cache-Control (§5.4).
struct request_directives {
    delta max_age, max_stale, min_fresh;
    bool max_stale_any = false;  // max-stale without a value: any staleness
    bool no_cache = false, no_store = false, only_if_cached = false, no_transform = false;
};

void parse_response_directives(std::string_view value, response_directives& out);
void parse_request_directives(std::string_view value, request_directives& out);
response_directives response_directives_of(http::field_list fields);
request_directives request_directives_of(http::field_list fields);

// IMF-fixdate, RFC 850 and asctime forms (RFC 9110 §5.6.7); nullopt when none parses.
std::optional<sys_time> parse_http_date(std::string_view s);
void append_http_date(std::string& out, sys_time t);

// The first value of a field (case-insensitive), or nullopt.
std::optional<std::string_view> field(http::field_list fields, std::string_view name);

// What the route's cache settings allow beyond the response's own word.
struct freshness_settings {
    seconds default_ttl{0};
    bool heuristic = true;
    seconds max_ttl{86400};
    seconds stale_while_revalidate{0};
    seconds stale_if_error{0};
};

// Statuses a cache may store without explicit freshness (RFC 9110 §15.1 "heuristically cacheable").
bool heuristically_cacheable(int status);

// Freshness lifetime (§4.2.1): s-maxage, max-age, Expires - Date, then the heuristic (10 % of
// Date - Last-Modified) or the route's default_ttl; capped by max_ttl. Zero when none applies
// or the response said it is stale at once.
seconds freshness_lifetime(int status, const response_directives& cc, http::field_list fields, sys_time response_time,
                           const freshness_settings& s, bool* explicit_lifetime = nullptr);

// The age bookkeeping of §4.2.3, taken when the response arrives.
struct age_basis {
    seconds corrected_initial_age{0};
    sys_time response_time{};
};
age_basis initial_age(http::field_list fields, sys_time request_time, sys_time response_time);
inline seconds current_age(const age_basis& a, sys_time now) {
    auto resident = std::chrono::duration_cast<seconds>(now - a.response_time);
    return a.corrected_initial_age + std::max(seconds(0), resident);
}

// Why a response is not stored, or nullptr when it may be (§3). `authorized`: the request
// carried Authorization; `cache_authorized`: the route allows such responses at all.
const char* not_storable_reason(std::string_view method, int status, const response_directives& cc, http::field_list fields,
                                bool authorized, bool cache_authorized, const freshness_settings& s, bool has_validator_or_lifetime);

// The field names a response varies on (lower-case), with `star` for `Vary: *`.
struct vary_names {
    std::vector<std::string> names;
    bool star = false;
};
vary_names vary_of(http::field_list fields);
// The request's value for one Vary name: every field of that name joined with ", ", whitespace
// around commas removed, so "en,fr" and "en, fr" select the same variant (§4.1).
std::string vary_value(http::field_list fields, std::string_view name);

// Strong or weak comparison of entity tags in If-None-Match (weak, §13.1.2): does `list` match `etag`?
bool etag_list_matches(std::string_view list, std::string_view etag);

// Space- or comma-separated tags of Surrogate-Key / Cache-Tag fields.
std::vector<std::string> tags_of(http::field_list fields);

}  // namespace gatehouse::cache
