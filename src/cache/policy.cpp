#include "cache/policy.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "util/text.hpp"

namespace gatehouse::cache {

namespace {

using http::iequals;

constexpr std::int64_t k_delta_max = 2147483648;  // §1.2.2: 2^31 for anything larger

// delta-seconds: digits only; a quoted-string form ("60") is accepted as senders do write it.
delta parse_delta(std::string_view arg, bool has_arg) {
    delta d;
    d.present = true;
    if (!has_arg) {
        d.invalid = true;
        return d;
    }
    if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"') arg = arg.substr(1, arg.size() - 2);
    if (arg.empty()) {
        d.invalid = true;
        return d;
    }
    std::int64_t v = 0;
    for (char c : arg) {
        if (c < '0' || c > '9') {
            d.invalid = true;
            return d;
        }
        v = std::min<std::int64_t>(k_delta_max, v * 10 + (c - '0'));
    }
    d.value = v;
    return d;
}

// Calls f(name, argument, has_argument) for each directive of a Cache-Control value, honouring
// quoted strings (a comma inside quotes does not split: no-cache="a, b").
template <class F>
void for_each_directive(std::string_view v, F&& f) {
    std::size_t i = 0;
    while (i < v.size()) {
        while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) ++i;
        std::size_t start = i;
        while (i < v.size() && v[i] != ',' && v[i] != '=') ++i;
        auto name = util::trim(v.substr(start, i - start));
        std::string_view arg;
        bool has_arg = false;
        if (i < v.size() && v[i] == '=') {
            ++i;
            has_arg = true;
            while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
            std::size_t a = i;
            if (i < v.size() && v[i] == '"') {
                ++i;
                while (i < v.size() && v[i] != '"') i += v[i] == '\\' && i + 1 < v.size() ? 2 : 1;
                if (i < v.size()) ++i;
                arg = v.substr(a, std::min(i, v.size()) - a);
                while (i < v.size() && v[i] != ',') ++i;
            } else {
                while (i < v.size() && v[i] != ',') ++i;
                arg = util::trim(v.substr(a, i - a));
            }
        }
        if (!name.empty()) f(name, arg, has_arg);
    }
}

void keep_first(delta& slot, delta d, bool* conflict = nullptr) {
    if (!slot.present) slot = d;
    else if (conflict && (slot.invalid != d.invalid || slot.value != d.value)) *conflict = true;
}

constexpr std::array<const char*, 12> k_months{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<const char*, 7> k_days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

int month_of(std::string_view m) {
    if (m.size() != 3) return 0;
    // The three letters as one number: a switch instead of twelve string comparisons.
    const auto v = (static_cast<unsigned>(static_cast<unsigned char>(m[0])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(m[1])) << 8) | static_cast<unsigned char>(m[2]);
    constexpr auto code = [](const char* s) {
        return (static_cast<unsigned>(s[0]) << 16) | (static_cast<unsigned>(s[1]) << 8) | static_cast<unsigned>(s[2]);
    };
    switch (v) {
        case code("Jan"): return 1;
        case code("Feb"): return 2;
        case code("Mar"): return 3;
        case code("Apr"): return 4;
        case code("May"): return 5;
        case code("Jun"): return 6;
        case code("Jul"): return 7;
        case code("Aug"): return 8;
        case code("Sep"): return 9;
        case code("Oct"): return 10;
        case code("Nov"): return 11;
        case code("Dec"): return 12;
        default: return 0;
    }
}

bool number(std::string_view s, int& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

std::optional<sys_time> make_time(int y, int mon, int d, std::string_view hms) {
    int h = 0, mi = 0, s = 0;
    if (hms.size() != 8 || hms[2] != ':' || hms[5] != ':' || !number(hms.substr(0, 2), h) || !number(hms.substr(3, 2), mi) ||
        !number(hms.substr(6, 2), s))
        return std::nullopt;
    if (mon < 1 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
    // sys_time counts nanoseconds: it holds 1678 to 2261, and a difference of two times at
    // most 292 years. A date past 2150 (servers say "forever" with 9999) becomes 2150, one
    // before 1900 becomes 1900: both keep their meaning for freshness (far future, long past),
    // and Expires - Date of any two stays representable (found by fuzz_cache_control: 9988 and 1497).
    y = std::clamp(y, 1900, 2150);
    std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mon)),
                                    std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return std::nullopt;
    return sys_time(std::chrono::sys_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) + seconds(s);
}

}  // namespace

void parse_response_directives(std::string_view value, response_directives& cc) {
    for_each_directive(value, [&](std::string_view n, std::string_view arg, bool has_arg) {
        if (iequals(n, "max-age")) keep_first(cc.max_age, parse_delta(arg, has_arg), &cc.duplicate_lifetime);
        else if (iequals(n, "s-maxage")) keep_first(cc.s_maxage, parse_delta(arg, has_arg), &cc.duplicate_lifetime);
        else if (iequals(n, "stale-while-revalidate")) keep_first(cc.stale_while_revalidate, parse_delta(arg, has_arg));
        else if (iequals(n, "stale-if-error")) keep_first(cc.stale_if_error, parse_delta(arg, has_arg));
        else if (iequals(n, "no-store")) cc.no_store = true;
        else if (iequals(n, "no-cache")) cc.no_cache = true;  // with field names: treated as unqualified (allowed by §5.2.2.4)
        else if (iequals(n, "private")) cc.private_ = true;   // likewise (§5.2.2.7)
        else if (iequals(n, "public")) cc.public_ = true;
        else if (iequals(n, "must-revalidate")) cc.must_revalidate = true;
        else if (iequals(n, "proxy-revalidate")) cc.proxy_revalidate = true;
        else if (iequals(n, "no-transform")) cc.no_transform = true;
    });
}

void parse_request_directives(std::string_view value, request_directives& cc) {
    for_each_directive(value, [&](std::string_view n, std::string_view arg, bool has_arg) {
        if (iequals(n, "max-age")) keep_first(cc.max_age, parse_delta(arg, has_arg));
        else if (iequals(n, "max-stale")) {
            if (!has_arg) cc.max_stale_any = true;
            else keep_first(cc.max_stale, parse_delta(arg, has_arg));
        } else if (iequals(n, "min-fresh")) keep_first(cc.min_fresh, parse_delta(arg, has_arg));
        else if (iequals(n, "no-cache")) cc.no_cache = true;
        else if (iequals(n, "no-store")) cc.no_store = true;
        else if (iequals(n, "only-if-cached")) cc.only_if_cached = true;
        else if (iequals(n, "no-transform")) cc.no_transform = true;
    });
}

response_directives response_directives_of(http::field_list fields) {
    response_directives cc;
    for (auto& f : fields)
        if (f.name.size() == 13 && iequals(f.name, "cache-control")) parse_response_directives(f.value, cc);
    return cc;
}

request_directives request_directives_of(http::field_list fields) {
    request_directives cc;
    bool any = false, pragma_no_cache = false;
    for (auto& f : fields) {
        if (f.name.size() == 13 && iequals(f.name, "cache-control")) {
            parse_request_directives(f.value, cc);
            any = true;
        } else if (f.name.size() == 6 && iequals(f.name, "pragma") && http::list_contains(f.value, "no-cache")) {
            pragma_no_cache = true;
        }
    }
    if (!any && pragma_no_cache) cc.no_cache = true;  // §5.4: HTTP/1.0 clients
    return cc;
}

std::optional<sys_time> parse_http_date(std::string_view s) {
    s = util::trim(s);
    auto comma = s.find(',');
    if (comma == 3 && s.size() == 29) {  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        int d = 0, y = 0;
        if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s.substr(25) != " GMT") return std::nullopt;
        if (!number(s.substr(5, 2), d) || !number(s.substr(12, 4), y)) return std::nullopt;
        return make_time(y, month_of(s.substr(8, 3)), d, s.substr(17, 8));
    }
    if (comma != std::string_view::npos && comma > 3) {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        auto rest = s.substr(comma + 1);
        if (rest.size() != 23 || rest[0] != ' ' || rest[3] != '-' || rest[7] != '-' || rest[10] != ' ' || rest.substr(19) != " GMT")
            return std::nullopt;
        int d = 0, yy = 0;
        if (!number(rest.substr(1, 2), d) || !number(rest.substr(8, 2), yy)) return std::nullopt;
        int y = yy < 70 ? 2000 + yy : 1900 + yy;  // §5.6.7: more than 50 years ahead means the past century
        return make_time(y, month_of(rest.substr(4, 3)), d, rest.substr(11, 8));
    }
    if (s.size() == 24 && s[3] == ' ' && s[7] == ' ') {  // asctime: Sun Nov  6 08:49:37 1994
        int d = 0, y = 0;
        auto day = util::trim(s.substr(8, 2));
        if (s[10] != ' ' || s[19] != ' ' || !number(day, d) || !number(s.substr(20, 4), y)) return std::nullopt;
        return make_time(y, month_of(s.substr(4, 3)), d, s.substr(11, 8));
    }
    return std::nullopt;
}

void append_http_date(std::string& out, sys_time t) {
    auto days = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day ymd{days};
    std::chrono::hh_mm_ss hms{std::chrono::floor<seconds>(t - days)};
    std::chrono::weekday wd{days};
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT", k_days[wd.c_encoding()], static_cast<unsigned>(ymd.day()),
                  k_months[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    out += buf;
}

std::optional<std::string_view> field(http::field_list fields, std::string_view name) {
    for (auto& f : fields)
        if (iequals(f.name, name)) return f.value;
    return std::nullopt;
}

bool heuristically_cacheable(int status) {
    switch (status) {
        case 200:
        case 203:
        case 204:
        case 206:
        case 300:
        case 301:
        case 308:
        case 404:
        case 405:
        case 410:
        case 414:
        case 501: return true;
        default: return false;
    }
}

seconds freshness_lifetime(int status, const response_directives& cc, http::field_list fields, sys_time response_time,
                           const freshness_settings& s, bool* explicit_lifetime) {
    auto cap = [&](seconds v) { return std::clamp(v, seconds(0), s.max_ttl); };
    if (explicit_lifetime) *explicit_lifetime = true;
    if (cc.duplicate_lifetime) return seconds(0);  // conflicting lifetimes: stale (§4.2.1)
    if (cc.s_maxage.present) return cc.s_maxage.invalid ? seconds(0) : cap(seconds(cc.s_maxage.value));
    if (cc.max_age.present) return cc.max_age.invalid ? seconds(0) : cap(seconds(cc.max_age.value));
    auto date_text = field(fields, "date");
    auto date = date_text ? parse_http_date(*date_text) : std::nullopt;
    const sys_time base = date.value_or(response_time);
    if (auto expires = field(fields, "expires")) {
        auto e = parse_http_date(*expires);
        if (!e) return seconds(0);  // an invalid Expires (often "0") means already expired (§5.3)
        return cap(std::chrono::duration_cast<seconds>(*e - base));
    }
    if (explicit_lifetime) *explicit_lifetime = false;
    if (s.heuristic && heuristically_cacheable(status)) {
        if (auto lm_text = field(fields, "last-modified")) {
            if (auto lm = parse_http_date(*lm_text); lm && *lm < base) return cap(std::chrono::duration_cast<seconds>(base - *lm) / 10);
        }
    }
    if (heuristically_cacheable(status) || cc.public_) return cap(s.default_ttl);
    return seconds(0);
}

age_basis initial_age(http::field_list fields, sys_time request_time, sys_time response_time) {
    age_basis a;
    a.response_time = response_time;
    seconds age_value{0};
    if (auto v = field(fields, "age")) {
        auto d = parse_delta(util::trim(*v), true);
        if (!d.invalid) age_value = seconds(d.value);
    }
    seconds apparent{0};
    if (auto dt = field(fields, "date"))
        if (auto date = parse_http_date(*dt)) apparent = std::max(seconds(0), std::chrono::duration_cast<seconds>(response_time - *date));
    auto delay = std::chrono::duration_cast<seconds>(response_time - request_time);
    a.corrected_initial_age = std::max(apparent, age_value + std::max(seconds(0), delay));
    return a;
}

const char* not_storable_reason(std::string_view method, int status, const response_directives& cc, http::field_list fields,
                                bool authorized, bool cache_authorized, const freshness_settings& s, bool has_lifetime) {
    if (method != "GET") return "method";
    if (status < 200 || status == 206 || status == 304) return "status";
    if (cc.no_store) return "no-store";
    if (cc.private_) return "private";
    if (authorized && (!cache_authorized || !(cc.public_ || cc.s_maxage.present || cc.must_revalidate))) return "authorization";
    if (vary_of(fields).star) return "vary-star";
    bool set_cookie = false;
    for (auto& f : fields) set_cookie = set_cookie || (f.name.size() == 10 && iequals(f.name, "set-cookie"));
    if (set_cookie && !cc.public_) return "set-cookie";
    const bool validator = field(fields, "etag") || field(fields, "last-modified");
    // §3: explicit freshness, public, a heuristically cacheable status, or (no-cache) a validator.
    bool explicit_freshness = cc.max_age.present || cc.s_maxage.present || field(fields, "expires").has_value();
    if (!explicit_freshness && !cc.public_ && !heuristically_cacheable(status)) return "status";
    // Nothing to serve it for: never fresh, no validator, and nothing said it may be used stale.
    if (!has_lifetime && !validator && !explicit_freshness && s.stale_while_revalidate.count() == 0 && s.stale_if_error.count() == 0)
        return "no-lifetime";
    return nullptr;
}

vary_names vary_of(http::field_list fields) {
    vary_names v;
    for (auto& f : fields) {
        if (f.name.size() != 4 || !iequals(f.name, "vary")) continue;
        std::string_view list = f.value;
        while (!list.empty()) {
            auto comma = list.find(',');
            auto item = util::trim(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            if (item.empty()) continue;
            if (item == "*") {
                v.star = true;
                continue;
            }
            std::string name = util::ascii_lower(item);
            if (std::find(v.names.begin(), v.names.end(), name) == v.names.end()) v.names.push_back(std::move(name));
        }
    }
    std::sort(v.names.begin(), v.names.end());
    return v;
}

std::string vary_value(http::field_list fields, std::string_view name) {
    std::string out;
    bool first = true;
    for (auto& f : fields) {
        if (!iequals(f.name, name)) continue;
        std::string_view list = f.value;
        while (!list.empty()) {
            auto comma = list.find(',');
            auto item = util::trim(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            if (!first) out += ", ";
            out += item;
            first = false;
        }
    }
    return out;
}

bool etag_list_matches(std::string_view list, std::string_view etag) {
    auto opaque = [](std::string_view t) {
        t = util::trim(t);
        if (t.starts_with("W/")) t.remove_prefix(2);
        return t;
    };
    if (util::trim(list) == "*") return true;
    auto mine = opaque(etag);
    if (mine.empty()) return false;
    while (!list.empty()) {
        auto comma = list.find(',');
        auto item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (opaque(item) == mine) return true;
    }
    return false;
}

std::vector<std::string> tags_of(http::field_list fields) {
    std::vector<std::string> tags;
    for (auto& f : fields) {
        if (!(f.name.size() == 13 && iequals(f.name, "surrogate-key")) && !(f.name.size() == 9 && iequals(f.name, "cache-tag"))) continue;
        std::string_view v = f.value;
        std::size_t i = 0;
        while (i < v.size()) {
            while (i < v.size() && (v[i] == ' ' || v[i] == ',' || v[i] == '\t')) ++i;
            auto start = i;
            while (i < v.size() && v[i] != ' ' && v[i] != ',' && v[i] != '\t') ++i;
            if (i > start) {
                std::string t(v.substr(start, i - start));
                if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(std::move(t));
            }
        }
    }
    return tags;
}

}  // namespace gatehouse::cache
