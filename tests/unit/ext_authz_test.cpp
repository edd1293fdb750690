// ext_authz without I/O: the cache key, what an answer decides and for how long, the decision
// cache (TTLs, stale_if_error, Vary, LRU, coalescing), and config validation.
#include <gtest/gtest.h>

#include "gatehouse/config/config.hpp"
#include "middleware/ext_authz/check_request.hpp"
#include "middleware/ext_authz/decision_cache.hpp"
#include "middleware/ext_authz/front_cache.hpp"

using namespace gatehouse;
using namespace gatehouse::middleware;
using namespace gatehouse::middleware::ext_authz;
using std::chrono::seconds;

namespace {

using fields = std::vector<http::field>;

struct request {
    std::vector<http::field> fields;
    request_context ctx;
    explicit request(std::vector<http::field> f, std::string_view path = "/a", std::string_view query = "") : fields(std::move(f)) {
        ctx.method = "GET";
        ctx.host = "example.com";
        ctx.path = path;
        ctx.query = query;
        ctx.client_address = "10.0.0.1";
        ctx.fields = http::field_list(fields);
    }
};

settings http_settings() {
    settings s;
    s.upstream = "policy";
    s.path = "/authorize";
    s.send_headers = {"authorization", "x-tenant"};
    s.upstream_headers = {"x-user"};
    s.deny_headers = {"www-authenticate"};
    s.cache.enabled = true;
    s.cache.max_ttl = seconds(60);
    s.cache.deny_ttl = seconds(5);
    return s;
}

std::string key_of(const request& r, const settings& s) {
    std::string k;
    append_key(r.ctx, s, {}, k);
    return k;
}

upstream_answer answer(int status, std::vector<std::pair<std::string, std::string>> fields = {}, std::string body = {}) {
    upstream_answer a;
    a.ok = true;
    a.status = status;
    a.fields = std::move(fields);
    a.body = std::move(body);
    return a;
}

std::string load_errors(const std::string& middleware) {
    auto yaml = "listeners: [{ name: public, listen: 127.0.0.1:8080 }]\n"
                "upstreams: [{ name: u, discovery: { static: [127.0.0.1:1] } }, { name: policy, discovery: { static: [127.0.0.1:2] } }]\n"
                "routes:\n  - name: r\n    upstream: u\n    middleware:\n      - ext_authz: " +
                middleware + "\n";
    auto r = config::load_string(yaml, "test.yaml");
    return r.config ? "" : r.diags.to_string();
}

}  // namespace

TEST(ExtAuthzKey, HoldsWhatIsSentAndOnlyThat) {
    auto s = http_settings();
    request a(fields{{"Authorization", "Bearer x"}, {"X-Tenant", "t"}, {"X-Unlisted", "1"}});
    request same(fields{{"x-tenant", "t"}, {"authorization", "Bearer x"}, {"X-Unlisted", "2"}});  // order, case and unlisted fields do not count
    request other_token(fields{{"Authorization", "Bearer y"}, {"X-Tenant", "t"}});
    request other_path(fields{{"Authorization", "Bearer x"}, {"X-Tenant", "t"}}, "/b");
    request other_query(fields{{"Authorization", "Bearer x"}, {"X-Tenant", "t"}}, "/a", "q=1");
    request no_tenant(fields{{"Authorization", "Bearer x"}});
    EXPECT_EQ(key_of(a, s), key_of(same, s));
    for (auto* r : {&other_token, &other_path, &other_query, &no_tenant}) EXPECT_NE(key_of(a, s), key_of(*r, s));
    request method(fields{{"Authorization", "Bearer x"}, {"X-Tenant", "t"}});
    method.ctx.method = "POST";
    EXPECT_NE(key_of(a, s), key_of(method, s));
    request framing(fields{{"Authorization", "Bearer x\nx-tenant:t"}});  // a value cannot pose as another field (no LF in values anyway)
    EXPECT_NE(key_of(framing, s), key_of(a, s));
}

TEST(ExtAuthzKey, HeaderNamesThatPrefixEachOtherDoNotCollide) {
    auto s = http_settings();
    s.send_headers = {"x", "x1"};
    request a(fields{{"x", "1:v"}}), b(fields{{"x1", "v"}});
    EXPECT_NE(key_of(a, s), key_of(b, s));
}

TEST(ExtAuthzConfig, FramingAndHostFieldsAreNeverCopied) {
    for (const char* key : {"send_headers", "upstream_headers", "deny_headers"}) {
        const auto text = load_errors(std::string("{ upstream: policy, path: /a, ") + key + ": [content-length, Host] }");
        EXPECT_NE(text.find("'content-length': framing and connection fields are the proxy's"), std::string::npos) << key << text;
        EXPECT_NE(text.find("'Host': framing and connection fields are the proxy's"), std::string::npos) << key << text;
    }
}

TEST(ExtAuthzKey, IntrospectionKeysOnTheTokenAlone) {
    auto s = http_settings();
    s.how = mode::oauth2_introspection;
    request a(fields{}), b(fields{}, "/elsewhere");
    std::string ka, kb;
    append_key(a.ctx, s, "tok", ka);
    append_key(b.ctx, s, "tok", kb);
    EXPECT_EQ(ka, kb);
}

TEST(ExtAuthzRequest, SendsListedHeadersAndForwardedFacts) {
    auto s = http_settings();
    request r(fields{{"Authorization", "Bearer x"}, {"Cookie", "secret"}}, "/p", "a=1");
    sent_fields f;
    collect_sent_fields(r.ctx, s, f);
    auto req = build_request(s, {}, f);
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.target, "/authorize");
    auto has = [&](std::string_view n, std::string_view v) {
        for (auto& [k, x] : req.fields)
            if (k == n && x == v) return true;
        return false;
    };
    EXPECT_TRUE(has("authorization", "Bearer x"));
    EXPECT_TRUE(has("x-forwarded-uri", "/p?a=1"));
    EXPECT_TRUE(has("x-forwarded-method", "GET"));
    EXPECT_TRUE(has("x-forwarded-for", "10.0.0.1"));
    for (auto& [k, v] : req.fields) EXPECT_NE(k, "cookie");
}

TEST(ExtAuthzRequest, SendBodyPostsTheBodyWithItsContentTypeAndKeysOnItsDigest) {
    auto s = http_settings();
    s.send_body.enabled = true;
    request r(fields{{"Content-Type", "application/json"}, {"Authorization", "Bearer x"}});
    r.ctx.method = "POST";
    r.ctx.has_body = true;
    sent_fields f;
    collect_sent_fields(r.ctx, s, f);
    auto req = build_request(s, {}, f, std::string_view(R"({"a":1})"));
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.body, R"({"a":1})");
    std::size_t content_types = 0;
    for (auto& [k, v] : req.fields) content_types += k == "content-type" && v == "application/json";
    EXPECT_EQ(content_types, 1u);
    EXPECT_EQ(build_request(s, {}, f).method, "GET") << "no body: asked as before";
    // The body's digest is a part of its own: another body is another key, the same body the same.
    std::string k1 = key_of(r, s), k2 = k1, k3 = k1;
    append_body_key("one", k1);
    append_body_key("two", k2);
    append_body_key("one", k3);
    EXPECT_NE(k1, k2);
    EXPECT_EQ(k1, k3);
    EXPECT_EQ(k1.find("one"), std::string::npos) << "a digest, not the body";
}

TEST(ExtAuthzRequest, IntrospectionPostsTheFormEncodedTokenWithBasicCredentials) {
    auto s = http_settings();
    s.how = mode::oauth2_introspection;
    s.introspection.client_id = "gw";
    s.introspection.client_secret = "p w";
    auto req = build_request(s, "a+b/c=", {});
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.body, "token=a%2Bb%2Fc%3D&token_type_hint=access_token");
    bool basic = false;
    for (auto& [k, v] : req.fields) basic |= k == "authorization" && v == "Basic Z3c6cCt3";  // base64("gw:p+w")
    EXPECT_TRUE(basic);
}

TEST(ExtAuthzDecide, TwoHundredsAllowFourHundredsDenyTheRestAreErrors) {
    auto s = http_settings();
    auto now = std::chrono::system_clock::now();
    auto allow = decide(answer(204, {{"X-User", "alice"}, {"X-Other", "1"}}), s, now);
    EXPECT_EQ(allow.result, outcome::kind::allow);
    ASSERT_EQ(allow.headers.size(), 1u);
    EXPECT_EQ(allow.headers[0], (std::pair<std::string, std::string>{"x-user", "alice"}));
    auto deny = decide(answer(403, {{"WWW-Authenticate", "Bearer"}, {"X-User", "x"}}), s, now);
    EXPECT_EQ(deny.result, outcome::kind::deny);
    EXPECT_EQ(deny.status, 403);
    ASSERT_EQ(deny.headers.size(), 1u);
    EXPECT_EQ(deny.headers[0].first, "www-authenticate");
    EXPECT_EQ(decide(answer(429), s, now).status, 429);
    for (int st : {101, 302, 500, 503}) EXPECT_EQ(decide(answer(st), s, now).result, outcome::kind::error) << st;
    upstream_answer failed;  // timeout, connect failure
    EXPECT_EQ(decide(failed, s, now).result, outcome::kind::error);
}

TEST(ExtAuthzTtl, MaxAgeCappedNoStoreNeverDenyTtlForDenials) {
    cache_settings c;
    c.enabled = true;
    c.max_ttl = seconds(60);
    c.deny_ttl = seconds(5);
    EXPECT_EQ(answer_ttl(answer(200, {{"Cache-Control", "max-age=10"}}), true, c), seconds(10));
    EXPECT_EQ(answer_ttl(answer(200, {{"Cache-Control", "max-age=600"}}), true, c), seconds(60));
    EXPECT_EQ(answer_ttl(answer(200), true, c), seconds(60));
    EXPECT_EQ(answer_ttl(answer(200, {{"Cache-Control", "no-store"}}), true, c), seconds(0));
    EXPECT_EQ(answer_ttl(answer(200, {{"Cache-Control", "private, max-age=5"}}), true, c), seconds(0));
    EXPECT_EQ(answer_ttl(answer(403), false, c), seconds(5));
    EXPECT_EQ(answer_ttl(answer(401, {{"Cache-Control", "max-age=2"}}), false, c), seconds(2));
    EXPECT_EQ(answer_ttl(answer(401, {{"Cache-Control", "no-store"}}), false, c), seconds(0));
    EXPECT_EQ(answer_ttl(answer(404), false, c), seconds(0));  // only 401 and 403 are kept
    c.enabled = false;
    EXPECT_EQ(answer_ttl(answer(200), true, c), seconds(0));
    auto s = http_settings();
    EXPECT_EQ(decide(answer(200, {{"Vary", "*"}}), s, std::chrono::system_clock::now()).ttl, seconds(0));
}

TEST(ExtAuthzDecide, IntrospectionHonoursActiveExpAndScope) {
    auto s = http_settings();
    s.how = mode::oauth2_introspection;
    s.introspection.required_scopes = {"read"};
    s.introspection.claims_to_headers = {{"sub", "x-user"}};
    const auto now = std::chrono::system_clock::time_point(seconds(1'000'000));
    auto ok = decide(answer(200, {}, R"({"active":true,"sub":"alice","scope":"write read","exp":1000030})"), s, now);
    EXPECT_EQ(ok.result, outcome::kind::allow);
    EXPECT_EQ(ok.ttl, seconds(30));  // until exp, under max_ttl
    auto later = decide(answer(200, {}, R"({"active":true,"scope":"read","exp":1000030})"), s, now + std::chrono::milliseconds(100));
    EXPECT_EQ(later.ttl, seconds(29));  // never kept past exp
    EXPECT_EQ(ok.subject, "alice");
    ASSERT_EQ(ok.headers.size(), 1u);
    EXPECT_EQ(ok.headers[0].second, "alice");
    auto inactive = decide(answer(200, {}, R"({"active":false})"), s, now);
    EXPECT_EQ(inactive.status, 401);
    EXPECT_EQ(inactive.ttl, seconds(5));
    EXPECT_EQ(decide(answer(200, {}, R"({"active":true,"exp":999999})"), s, now).status, 401);  // expired
    auto narrow = decide(answer(200, {}, R"({"active":true,"scope":"reader"})"), s, now);
    EXPECT_EQ(narrow.status, 403);
    EXPECT_EQ(decide(answer(401), s, now).result, outcome::kind::error);  // our client credentials refused
    EXPECT_EQ(decide(answer(200, {}, "not json"), s, now).result, outcome::kind::error);
}

TEST(DecisionCache, FreshThenStaleWithinStaleIfErrorThenGone) {
    decision_cache c(100);
    auto o = std::make_shared<outcome>();
    o->result = outcome::kind::allow;
    o->ttl = seconds(10);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    c.insert("k", o, t0, seconds(30));
    EXPECT_TRUE(c.find("k", "", t0 + seconds(9)).fresh);
    auto later = c.find("k", "", t0 + seconds(11));
    EXPECT_FALSE(later.fresh);
    EXPECT_TRUE(later.stale);
    auto gone = c.find("k", "", t0 + seconds(41));
    EXPECT_FALSE(gone.fresh || gone.stale);
    EXPECT_EQ(c.size(), 0u);
}

TEST(DecisionCache, DenialsAreNeverStaleAndErrorsNeverStored) {
    decision_cache c(100);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    auto d = std::make_shared<outcome>();
    d->result = outcome::kind::deny;
    d->ttl = seconds(5);
    c.insert("d", d, t0, seconds(30));
    EXPECT_FALSE(c.find("d", "", t0 + seconds(6)).stale);
    auto e = std::make_shared<outcome>();
    e->ttl = seconds(5);
    c.insert("e", e, t0, seconds(30));
    EXPECT_FALSE(c.find("e", "", t0).fresh);
}

TEST(DecisionCache, VariesOnTheClientAddressWhenTheAnswerSaysSo) {
    decision_cache c(100);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    auto a = std::make_shared<outcome>();
    a->result = outcome::kind::allow;
    a->ttl = seconds(10);
    a->vary = {{"x-forwarded-for", "10.0.0.1"}};
    c.insert("k", a, t0, seconds(0));
    EXPECT_TRUE(c.find("k", "10.0.0.1", t0).fresh);
    EXPECT_FALSE(c.find("k", "10.0.0.2", t0).fresh);
    auto b = std::make_shared<outcome>(*a);
    b->vary = {{"x-forwarded-for", "10.0.0.2"}};
    c.insert("k", b, t0, seconds(0));
    EXPECT_TRUE(c.find("k", "10.0.0.1", t0).fresh);
    EXPECT_TRUE(c.find("k", "10.0.0.2", t0).fresh);
}

TEST(DecisionCache, EvictsLeastRecentlyUsedWithinItsBound) {
    decision_cache c(decision_cache::k_shards * 2);  // two per shard
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    auto o = std::make_shared<outcome>();
    o->result = outcome::kind::allow;
    o->ttl = seconds(10);
    for (int i = 0; i < 1000; ++i) c.insert("k" + std::to_string(i), o, t0, seconds(0));
    EXPECT_LE(c.size(), decision_cache::k_shards * 2);
    EXPECT_TRUE(c.find("k999", "", t0).fresh);  // the newest stays
    const auto n = c.size();
    EXPECT_EQ(c.purge(), n);
    EXPECT_EQ(c.size(), 0u);
}

namespace {
// A waiter that counts its wake-ups.
struct counting : gatehouse::cache::waiter {
    int woken = 0;
    void wake() override { ++woken; }
};
}  // namespace

TEST(DecisionCache, OneFlightPerKeyWakesEveryWaiterWithItsResult) {
    decision_cache c(100);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    const auto timeout = seconds(1);
    auto w1 = std::make_shared<counting>(), w2 = std::make_shared<counting>(), w3 = std::make_shared<counting>();
    bool lead1 = false, lead2 = true, lead3 = true;
    auto f1 = c.join("k", w1, lead1, t0, timeout);
    auto f2 = c.join("k", w2, lead2, t0, timeout);
    auto f3 = c.join("k", w3, lead3, t0, timeout);
    EXPECT_TRUE(lead1);
    EXPECT_FALSE(lead2);
    EXPECT_EQ(f1, f2);
    c.leave("k", f3, w3.get());
    auto r = std::make_shared<outcome>();
    r->result = outcome::kind::allow;
    c.end("k", f1, r);
    EXPECT_EQ(w1->woken, 1);
    EXPECT_EQ(w2->woken, 1);
    EXPECT_EQ(w3->woken, 0);
    EXPECT_EQ(f2->result, r);
    bool lead = false;
    c.join("k", w1, lead, t0, timeout);  // the flight ended: the next miss leads a new one
    EXPECT_TRUE(lead);
}

TEST(DecisionCache, AFlightOlderThanTheTimeoutIsNotJoined) {
    decision_cache c(100);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    const auto timeout = std::chrono::milliseconds(200);
    auto w1 = std::make_shared<counting>(), w2 = std::make_shared<counting>(), w3 = std::make_shared<counting>();
    bool lead1 = false, lead2 = true, lead3 = false;
    auto old = c.join("k", w1, lead1, t0, timeout);
    auto same = c.join("k", w2, lead2, t0 + std::chrono::milliseconds(199), timeout);  // still within its timeout
    auto fresh = c.join("k", w3, lead3, t0 + timeout, timeout);                       // its call should have ended
    EXPECT_TRUE(lead1);
    EXPECT_FALSE(lead2);
    EXPECT_EQ(same, old);
    EXPECT_TRUE(lead3);
    EXPECT_NE(fresh, old);
    auto r = std::make_shared<outcome>();
    r->result = outcome::kind::allow;
    c.end("k", old, r);  // the old call ends late: its waiters wake, the fresh flight stays under the key
    EXPECT_EQ(w1->woken, 1);
    EXPECT_EQ(w2->woken, 1);
    EXPECT_EQ(w3->woken, 0);
    bool lead4 = true;
    auto w4 = std::make_shared<counting>();
    EXPECT_EQ(c.join("k", w4, lead4, t0 + timeout, timeout), fresh);
    EXPECT_FALSE(lead4);
    c.end("k", fresh, r);
    EXPECT_EQ(w3->woken, 1);
    EXPECT_EQ(w4->woken, 1);
}

TEST(ExtAuthzKey, PiecesHashAndMatchTheKeyTheyMake) {
    auto s = http_settings();
    request a(fields{{"Authorization", "Bearer a-rather-long-token-value"}, {"X-Tenant", "t"}});
    request b(fields{{"Authorization", "Bearer a-rather-long-token-valuf"}, {"X-Tenant", "t"}});  // the last byte differs
    request c(fields{{"Authorization", "Bearer a-rather-long-token-value"}}, "/a", "x=1");
    key_pieces pa, pb, pc;
    collect_key_pieces(a.ctx, s, {}, pa);
    collect_key_pieces(b.ctx, s, {}, pb);
    collect_key_pieces(c.ctx, s, {}, pc);
    std::string from_pieces;
    append_key(a.ctx, s, {}, pa, from_pieces);
    EXPECT_EQ(from_pieces, key_of(a, s));
    EXPECT_TRUE(key_equals(pa, key_of(a, s)));
    EXPECT_FALSE(key_equals(pb, key_of(a, s)));
    EXPECT_FALSE(key_equals(pc, key_of(a, s)));
    EXPECT_FALSE(key_equals(pa, key_of(a, s) + "x"));  // a longer stored key
    EXPECT_NE(key_hash(pa), key_hash(pb));
    EXPECT_NE(key_hash(pa), key_hash(pc));
    // More header values than the pieces hold: incomplete, and append_key still makes the whole key.
    std::vector<std::string> values;  // the fields are views
    for (int i = 0; i < 20; ++i) values.push_back("v" + std::to_string(i));
    std::vector<http::field> many;
    for (auto& v : values) many.push_back({"X-Tenant", v});
    request m(many);
    key_pieces pm;
    collect_key_pieces(m.ctx, s, {}, pm);
    EXPECT_FALSE(pm.complete);
    std::string whole;
    append_key(m.ctx, s, {}, pm, whole);
    EXPECT_EQ(whole, key_of(m, s));
    EXPECT_NE(whole.find("v19"), std::string::npos);
}

TEST(ExtAuthzFrontCache, ServesAFreshCopyUntilThePurgeChangesTheGeneration) {
    auto s = http_settings();
    request a(fields{{"Authorization", "Bearer x"}}), b(fields{{"Authorization", "Bearer y"}});
    key_pieces pa, pb;
    collect_key_pieces(a.ctx, s, {}, pa);
    collect_key_pieces(b.ctx, s, {}, pb);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    decision_cache shared(100);
    auto o = std::make_shared<outcome>();
    o->result = outcome::kind::allow;
    o->ttl = seconds(10);
    shared.insert(key_of(a, s), o, t0, seconds(0));
    const auto generation = shared.generation();
    auto found = shared.find(key_of(a, s), "10.0.0.1", t0);
    ASSERT_TRUE(found.fresh);
    EXPECT_EQ(found.fresh_until, t0 + seconds(10));
    front_cache front;
    EXPECT_EQ(front.find(generation, key_hash(pa), pa, "10.0.0.1", t0).what, nullptr);  // empty
    front.keep(generation, key_hash(pa), key_of(a, s), found.fresh, found.fresh_until);
    EXPECT_EQ(front.find(generation, key_hash(pa), pa, "10.0.0.1", t0 + seconds(9)).what, o.get());
    EXPECT_EQ(front.find(generation, key_hash(pa), pa, "10.0.0.1", t0 + seconds(10)).what, nullptr);  // no longer fresh
    EXPECT_EQ(front.find(generation, key_hash(pa), pb, "10.0.0.1", t0).what, nullptr);            // another key, same slot
    shared.purge();
    EXPECT_NE(shared.generation(), generation);
    EXPECT_EQ(front.find(shared.generation(), key_hash(pa), pa, "10.0.0.1", t0).what, nullptr);
    decision_cache other(100);  // no two caches share a generation (a reload with a new identity)
    EXPECT_NE(other.generation(), shared.generation());
    EXPECT_NE(other.generation(), generation);
}

TEST(ExtAuthzFrontCache, AnAnswerThatVariesOnTheClientServesOnlyThatClient) {
    auto s = http_settings();
    request a(fields{{"Authorization", "Bearer x"}});
    key_pieces pa;
    collect_key_pieces(a.ctx, s, {}, pa);
    auto o = std::make_shared<outcome>();
    o->result = outcome::kind::allow;
    o->vary = {{"x-forwarded-for", "10.0.0.1"}};
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    front_cache front;
    front.keep(1, key_hash(pa), key_of(a, s), o, t0 + seconds(10));
    EXPECT_EQ(front.find(1, key_hash(pa), pa, "10.0.0.1", t0).what, o.get());
    EXPECT_EQ(front.find(1, key_hash(pa), pa, "10.0.0.2", t0).what, nullptr);
}

TEST(ExtAuthzFrontCache, HitsRefreshTheKeysPlaceInTheSharedLruNowAndThen) {
    auto s = http_settings();
    request a(fields{{"Authorization", "Bearer x"}});
    key_pieces pa;
    collect_key_pieces(a.ctx, s, {}, pa);
    const auto key = key_of(a, s);
    const auto t0 = std::chrono::steady_clock::time_point(seconds(1000));
    decision_cache shared(decision_cache::k_shards);  // one entry per shard
    auto o = std::make_shared<outcome>();
    o->result = outcome::kind::allow;
    o->ttl = seconds(10);
    shared.insert(key, o, t0, seconds(0));
    front_cache front;
    front.keep(shared.generation(), key_hash(pa), key, o, t0 + seconds(10));
    int touches = 0;
    for (std::uint32_t i = 0; i < 3 * front_cache::k_touch_every; ++i) {
        auto h = front.find(shared.generation(), key_hash(pa), pa, "10.0.0.1", t0);
        ASSERT_EQ(h.what, o.get());
        if (!h.touch.empty()) {
            EXPECT_EQ(h.touch, key);
            shared.touch(h.touch);
            ++touches;
        }
    }
    EXPECT_EQ(touches, 3);
    shared.touch("not there");  // no entry: nothing happens
    EXPECT_TRUE(shared.find(key, "", t0).fresh);
}

TEST(ExtAuthzConfig, ValidAndItsErrors) {
    EXPECT_EQ(load_errors("{ upstream: policy, path: /authorize, send_headers: [authorization], upstream_headers: [x-user], "
                          "timeout: 200ms, on_error: allow, cache: { max_ttl: 60s, deny_ttl: 5s, stale_if_error: 30s, max_entries: 10 } }"),
              "");
    EXPECT_NE(load_errors("{ upstream: polcy }").find("no upstream named 'polcy' (did you mean 'policy'?)"), std::string::npos);
    EXPECT_NE(load_errors("{ path: /a }").find("upstream"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, on_error: maybe }").find("expected deny (503) or allow"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, send_headers: [bad_name] }").find("not a header name"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, path: authorize }").find("starting with '/'"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, cache: { max_ttl: 1500ms } }").find("whole seconds"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, cache: { ttl: 5s } }").find("ttl"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, mode: oauth2_introspection }").find("introspection: required"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, introspection: { client_id: x } }").find("only with mode: oauth2_introspection"),
              std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, mode: oauth2_introspection, send_headers: [a], introspection: {} }").find("not with mode"),
              std::string::npos);
    EXPECT_EQ(load_errors("{ upstream: policy, send_body: { max: 1MiB, allow_partial: true } }"), "");
    EXPECT_NE(load_errors("{ upstream: policy, send_body: { max: 0 } }").find("between 1 and"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, send_body: { size: 1KiB } }").find("size"), std::string::npos);
    EXPECT_NE(load_errors("{ upstream: policy, mode: oauth2_introspection, send_body: {}, introspection: {} }").find("not with mode"),
              std::string::npos);
    // file:line:col
    EXPECT_NE(load_errors("{ upstream: policy, timeout: 0s }").find("test.yaml:7:"), std::string::npos);
}
