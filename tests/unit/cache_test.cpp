// RFC 9111 arithmetic (src/cache/policy.cpp), the key (key.cpp), entries (entry.cpp) and the
// store (store.cpp): directive parsing, dates, freshness and age, storability, Vary, ETags,
// tags, keys, LRU eviction, purges and coalescing.
#include <gtest/gtest.h>

#include <atomic>

#include "cache/entry.hpp"
#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "cache/store.hpp"

using namespace gatehouse;
using namespace gatehouse::cache;
using namespace std::chrono_literals;

namespace {

std::vector<http::field> fields(std::initializer_list<std::pair<std::string_view, std::string_view>> l) {
    std::vector<http::field> out;
    for (auto& [n, v] : l) out.push_back({n, v});
    return out;
}

sys_time at(std::string_view http_date) { return *parse_http_date(http_date); }

}  // namespace

TEST(CacheDirectives, ResponseDirectivesWithQuotesAndCase) {
    response_directives cc;
    parse_response_directives(R"(Public, MAX-AGE=60, no-cache="Set-Cookie, X-Foo", s-maxage="120", stale-while-revalidate=30)", cc);
    EXPECT_TRUE(cc.public_);
    EXPECT_TRUE(cc.no_cache);
    EXPECT_EQ(cc.max_age.value, 60);
    EXPECT_EQ(cc.s_maxage.value, 120);  // the quoted form is accepted
    EXPECT_EQ(cc.stale_while_revalidate.value, 30);
    EXPECT_FALSE(cc.private_);  // "X-Foo" inside the quotes is no directive
}

TEST(CacheDirectives, InvalidNumbersAndDuplicates) {
    response_directives cc;
    parse_response_directives("max-age=abc", cc);
    EXPECT_TRUE(cc.max_age.present);
    EXPECT_TRUE(cc.max_age.invalid);
    EXPECT_EQ(freshness_lifetime(200, cc, {}, sys_time{}, {}), 0s);  // §4.2.1: invalid means stale

    response_directives dup;
    parse_response_directives("max-age=60", dup);
    parse_response_directives("max-age=3600", dup);  // a second Cache-Control field
    EXPECT_TRUE(dup.duplicate_lifetime);
    EXPECT_EQ(freshness_lifetime(200, dup, {}, sys_time{}, {}), 0s);

    response_directives same;
    parse_response_directives("max-age=60, max-age=60", same);
    EXPECT_FALSE(same.duplicate_lifetime);

    response_directives huge;
    parse_response_directives("max-age=99999999999999999999", huge);
    EXPECT_EQ(huge.max_age.value, 2147483648);  // §1.2.2

    response_directives empty;
    parse_response_directives("max-age=, s-maxage", empty);
    EXPECT_TRUE(empty.max_age.invalid);
    EXPECT_TRUE(empty.s_maxage.invalid);
}

TEST(CacheDirectives, RequestDirectivesAndPragma) {
    auto cc = request_directives_of(fields({{"Cache-Control", "max-stale, min-fresh=5, only-if-cached"}}));
    EXPECT_TRUE(cc.max_stale_any);
    EXPECT_EQ(cc.min_fresh.value, 5);
    EXPECT_TRUE(cc.only_if_cached);
    EXPECT_TRUE(request_directives_of(fields({{"Pragma", "no-cache"}})).no_cache);
    // Pragma counts only without Cache-Control (§5.4).
    EXPECT_FALSE(request_directives_of(fields({{"Pragma", "no-cache"}, {"Cache-Control", "max-age=5"}})).no_cache);
}

TEST(CacheDates, ThreeFormsAndGarbage) {
    auto imf = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
    ASSERT_TRUE(imf);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), imf);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), imf);
    EXPECT_FALSE(parse_http_date("0"));
    EXPECT_FALSE(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"));
    EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
    std::string out;
    append_http_date(out, *imf);
    EXPECT_EQ(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(CacheFreshness, OrderOfSources) {
    freshness_settings s;
    s.max_ttl = 86400s;
    auto date = fields({{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"}, {"Expires", "Mon, 01 Jan 2024 01:00:00 GMT"}});
    response_directives none;
    EXPECT_EQ(freshness_lifetime(200, none, date, sys_time{}, s), 3600s);  // Expires - Date
    response_directives both;
    parse_response_directives("max-age=10, s-maxage=20", both);
    EXPECT_EQ(freshness_lifetime(200, both, date, sys_time{}, s), 20s);  // a shared cache takes s-maxage
    response_directives long_age;
    parse_response_directives("max-age=999999", long_age);
    EXPECT_EQ(freshness_lifetime(200, long_age, {}, sys_time{}, s), 86400s);  // capped by max_ttl
    auto bad_expires = fields({{"Expires", "0"}});
    EXPECT_EQ(freshness_lifetime(200, none, bad_expires, sys_time{}, s), 0s);
}

TEST(CacheFreshness, HeuristicAndDefault) {
    freshness_settings s;
    auto lm = fields({{"Date", "Thu, 11 Jan 2024 00:00:00 GMT"}, {"Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"}});
    response_directives none;
    EXPECT_EQ(freshness_lifetime(200, none, lm, sys_time{}, s), 86400s);  // 10 % of 10 days
    EXPECT_EQ(freshness_lifetime(302, none, lm, sys_time{}, s), 0s);      // not heuristically cacheable
    s.heuristic = false;
    EXPECT_EQ(freshness_lifetime(200, none, lm, sys_time{}, s), 0s);
    s.default_ttl = 30s;
    EXPECT_EQ(freshness_lifetime(200, none, lm, sys_time{}, s), 30s);
}

TEST(CacheAge, CorrectedInitialAgeAndResidentTime) {
    const auto request_time = at("Mon, 01 Jan 2024 00:00:10 GMT");
    const auto response_time = at("Mon, 01 Jan 2024 00:00:12 GMT");
    // The origin's clock says it answered at :00; an Age of 5 came with it.
    auto a = initial_age(fields({{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"}, {"Age", "5"}}), request_time, response_time);
    EXPECT_EQ(a.corrected_initial_age, 12s);  // max(apparent 12, 5 + delay 2)
    EXPECT_EQ(current_age(a, response_time + 30s), 42s);
    auto b = initial_age(fields({{"Date", "Mon, 01 Jan 2024 00:00:12 GMT"}, {"Age", "100"}}), request_time, response_time);
    EXPECT_EQ(b.corrected_initial_age, 102s);
    auto c = initial_age(fields({{"Age", "junk"}}), request_time, response_time);
    EXPECT_EQ(c.corrected_initial_age, 2s);
}

TEST(CacheStorable, Rules) {
    freshness_settings s;
    auto reason = [&](int status, std::string_view cc_text, std::vector<http::field> f, bool auth = false, bool allow_auth = false) {
        response_directives cc;
        parse_response_directives(cc_text, cc);
        f.push_back({"Cache-Control", cc_text});
        auto lifetime = freshness_lifetime(status, cc, f, sys_time{}, s);
        auto r = not_storable_reason("GET", status, cc, f, auth, allow_auth, s, lifetime.count() > 0);
        return std::string(r ? r : "");
    };
    EXPECT_EQ(reason(200, "max-age=60", {}), "");
    EXPECT_EQ(reason(200, "no-store, max-age=60", {}), "no-store");
    EXPECT_EQ(reason(200, "private, max-age=60", {}), "private");
    EXPECT_EQ(reason(200, "max-age=60", {}, true, true), "authorization");
    EXPECT_EQ(reason(200, "public, max-age=60", {}, true, false), "authorization");
    EXPECT_EQ(reason(200, "public, max-age=60", {}, true, true), "");
    EXPECT_EQ(reason(200, "s-maxage=60", {}, true, true), "");
    EXPECT_EQ(reason(200, "max-age=60", fields({{"Set-Cookie", "a=b"}})), "set-cookie");
    EXPECT_EQ(reason(200, "public, max-age=60", fields({{"Set-Cookie", "a=b"}})), "");
    EXPECT_EQ(reason(200, "max-age=60", fields({{"Vary", "Accept, *"}})), "vary-star");
    EXPECT_EQ(reason(206, "max-age=60", {}), "status");
    EXPECT_EQ(reason(302, "", {}), "status");
    EXPECT_EQ(reason(302, "max-age=60", {}), "");  // explicit freshness makes any final status storable
    EXPECT_EQ(reason(200, "", {}), "no-lifetime");
    EXPECT_EQ(reason(200, "no-cache", fields({{"ETag", "\"x\""}})), "");
}

TEST(CacheVary, NamesValuesAndMatching) {
    auto v = vary_of(fields({{"Vary", "Accept-Encoding, accept-language"}, {"Vary", "Accept-Encoding"}}));
    EXPECT_FALSE(v.star);
    EXPECT_EQ(v.names, (std::vector<std::string>{"accept-encoding", "accept-language"}));
    EXPECT_TRUE(vary_of(fields({{"Vary", "*"}})).star);
    // Whitespace around commas and split fields select the same variant (§4.1).
    EXPECT_EQ(vary_value(fields({{"Accept-Language", "en,fr"}}), "accept-language"),
              vary_value(fields({{"accept-language", "en, fr"}}), "accept-language"));
    EXPECT_EQ(vary_value(fields({{"Accept-Language", "en"}, {"Accept-Language", "fr"}}), "accept-language"), "en, fr");
    EXPECT_EQ(vary_value({}, "accept-language"), "");
}

TEST(CacheValidators, EtagListMatching) {
    EXPECT_TRUE(etag_list_matches("\"a\", W/\"b\"", "\"b\""));  // weak comparison for If-None-Match
    EXPECT_TRUE(etag_list_matches("W/\"a\"", "\"a\""));
    EXPECT_TRUE(etag_list_matches("*", "\"zzz\""));
    EXPECT_FALSE(etag_list_matches("\"a\"", "\"b\""));
    EXPECT_FALSE(etag_list_matches("\"a\"", ""));
}

TEST(CacheTags, SurrogateKeyAndCacheTag) {
    auto t = tags_of(fields({{"Surrogate-Key", "a b  c"}, {"Cache-Tag", "c,d"}}));
    EXPECT_EQ(t, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(CacheKey, UrlHostAndQuery) {
    key_settings k;
    std::string url;
    build_url(url, false, "Example.COM:80", "/a/b", "z=1&a=2", k);
    EXPECT_EQ(url, "http://example.com/a/b?z=1&a=2");
    build_url(url, true, "example.com:443", "/", "", k);
    EXPECT_EQ(url, "https://example.com/");
    build_url(url, false, "example.com:8080", "/", "", k);
    EXPECT_EQ(url, "http://example.com:8080/");  // another port, another key
    build_url(url, false, "[::1]:80", "/", "", k);
    EXPECT_EQ(url, "http://[::1]/");
    build_url(url, false, "[::1]", "/", "", k);
    EXPECT_EQ(url, "http://[::1]/");
    build_url(url, false, "[::1]:8080", "/", "", k);
    EXPECT_EQ(url, "http://[::1]:8080/");
    build_url(url, false, "example.com.", "/", "", k);
    EXPECT_EQ(url, "http://example.com/");
    k.query = key_settings::query_mode::none;
    build_url(url, false, "h", "/p", "a=1", k);
    EXPECT_EQ(url, "http://h/p");
    k.query = key_settings::query_mode::named;
    k.query_names = {"a", "b"};
    build_url(url, false, "h", "/p", "b=2&utm=x&a=1&a=3", k);
    EXPECT_EQ(url, "http://h/p?a=1&a=3&b=2");
    k.headers = {"accept-language", "x-tenant"};
    std::string extras;
    build_extras(extras, fields({{"X-Tenant", "t1"}, {"Accept-Language", "en"}}), k);
    EXPECT_EQ(extras, "accept-language=en; x-tenant=t1");
    EXPECT_EQ(normalise_url("HTTP://Example.com:80/x?y"), "http://example.com/x?y");
    EXPECT_EQ(normalise_url("https://example.com"), "https://example.com/");
    EXPECT_EQ(normalise_url("ftp://example.com/"), "");
}

namespace {
std::shared_ptr<entry> stored(std::string url, std::size_t body_bytes, std::vector<http::field> resp = {},
                              std::vector<http::field> req = {}) {
    freshness_settings s;
    if (resp.empty()) resp = fields({{"Cache-Control", "max-age=60"}});
    auto facts = examine(200, resp, false, false, s);
    auto now = std::chrono::system_clock::now();
    auto e = make_entry(std::move(url), "", 200, resp, req, facts, s, now, now);
    e->body = std::make_shared<const std::string>(body_bytes, 'x');
    e->compute_bytes();
    return e;
}
}  // namespace

TEST(CacheEntry, StoredFieldsAndRefresh) {
    auto resp = fields({{"Cache-Control", "max-age=60"},
                        {"Connection", "x-hop"},
                        {"X-Hop", "1"},
                        {"Set-Cookie", "a=b"},
                        {"Surrogate-Key", "t"},
                        {"Content-Length", "5"},
                        {"ETag", "\"1\""},
                        {"X-Keep", "old"}});
    auto e = stored("http://h/", 5, resp);
    EXPECT_EQ(e->fields,
              (std::vector<std::pair<std::string, std::string>>{{"Cache-Control", "max-age=60"}, {"ETag", "\"1\""}, {"X-Keep", "old"}}));
    EXPECT_EQ(e->tags, (std::vector<std::string>{"t"}));
    EXPECT_EQ(e->etag, "\"1\"");
    auto now = std::chrono::system_clock::now();
    auto r = refreshed(*e, fields({{"Cache-Control", "max-age=120"}, {"X-Keep", "new"}}), {}, now, now);
    EXPECT_EQ(r->lifetime, 120s);
    EXPECT_EQ(r->field("x-keep"), "new");
    EXPECT_EQ(r->body, e->body);  // shared, not copied
}

TEST(CacheStore, VaryVariantsAndPurges) {
    auto& s = store::instance();
    s.purge_all();
    auto req_en = fields({{"Accept-Language", "en"}});
    auto req_fr = fields({{"Accept-Language", "fr"}});
    auto resp = fields({{"Cache-Control", "max-age=60"}, {"Vary", "Accept-Language"}, {"Surrogate-Key", "group"}});
    s.insert(stored("http://v/", 10, resp, req_en));
    s.insert(stored("http://v/", 20, resp, req_fr));
    EXPECT_EQ(s.find("http://v/", "", "http://v/", req_en).hit->body->size(), 10u);
    EXPECT_EQ(s.find("http://v/", "", "http://v/", req_fr).hit->body->size(), 20u);
    auto miss = s.find("http://v/", "", "http://v/", fields({{"Accept-Language", "de"}}));
    EXPECT_FALSE(miss.hit);
    EXPECT_TRUE(miss.url_known);
    EXPECT_EQ(s.purge_tag("group"), 2u);
    EXPECT_FALSE(s.find("http://v/", "", "http://v/", req_en).url_known);
    s.insert(stored("http://k/", 1));
    EXPECT_EQ(s.purge_key("http://k/"), 1u);
    s.insert(stored("http://k/", 1));
    EXPECT_EQ(s.purge_url("http://k/"), 1u);
    EXPECT_EQ(s.stats().entries.load(), 0u);
    EXPECT_EQ(s.stats().bytes.load(), 0u);
}

TEST(CacheStore, EvictsLeastRecentlyUsedAcrossShards) {
    auto& s = store::instance();
    s.purge_all();
    s.configure({1 << 20, 256 << 10});
    for (int i = 0; i < 4; ++i) s.insert(stored("http://e/" + std::to_string(i), 200'000));
    EXPECT_TRUE(s.find("http://e/0", "", "http://e/0", {}).hit);  // 0 is now the most recently used
    for (int i = 4; i < 8; ++i) s.insert(stored("http://e/" + std::to_string(i), 200'000));
    EXPECT_LE(s.stats().bytes.load(), 1u << 20);
    EXPECT_TRUE(s.find("http://e/0", "", "http://e/0", {}).hit);
    EXPECT_TRUE(s.find("http://e/7", "", "http://e/7", {}).hit);
    EXPECT_FALSE(s.find("http://e/1", "", "http://e/1", {}).hit);
    EXPECT_GT(s.stats().evictions.load(), 0u);
    s.purge_all();
    s.configure({});
}

TEST(CacheStore, CoalescingWakesEveryWaiterOnce) {
    struct counting : waiter {
        std::atomic<int> woken{0};
        void wake() override { ++woken; }
    };
    auto& s = store::instance();
    std::shared_ptr<fill> led;
    auto a = std::make_shared<counting>(), b = std::make_shared<counting>(), c = std::make_shared<counting>();
    std::shared_ptr<waiter> as;
    EXPECT_EQ(s.join_or_lead(
                  "http://c/", [&] { return a; }, led, as),
              nullptr);  // leads
    ASSERT_TRUE(led);
    EXPECT_FALSE(as);  // a leader needs no waiter
    std::shared_ptr<fill> unused;
    auto joined = s.join_or_lead(
        "http://c/", [&] { return b; }, unused, as);
    EXPECT_EQ(joined, led);
    EXPECT_EQ(as, b);
    s.join_or_lead(
        "http://c/", [&] { return c; }, unused, as);
    s.leave_fill("http://c/", led, c.get());  // c timed out
    EXPECT_EQ(s.stats().waiting.load(), 1u);
    s.end_fill("http://c/", led);
    EXPECT_EQ(b->woken.load(), 1);
    EXPECT_EQ(c->woken.load(), 0);
    EXPECT_EQ(a->woken.load(), 0);
    EXPECT_EQ(s.stats().waiting.load(), 0u);
    std::shared_ptr<fill> again;
    EXPECT_EQ(s.join_or_lead(
                  "http://c/", [&] { return a; }, again, as),
              nullptr);  // the next miss leads anew
    s.end_fill("http://c/", again);
    EXPECT_TRUE(s.claim_refresh("k"));
    EXPECT_FALSE(s.claim_refresh("k"));
    s.end_refresh("k");
    EXPECT_TRUE(s.claim_refresh("k"));
    s.end_refresh("k");
}
