// The status page: its three files and the policy they are served with, and GET /stats, the
// figures only it needs (request counters by status class, listeners, certificate expiry).
// The page itself is driven in Chromium by tests/integration/test_status_page.py.
#include <gtest/gtest.h>

#include <regex>

#include "admin/status_api.hpp"
#include "admin/status_assets.hpp"
#include "admin/status_page.hpp"
#include "gatehouse/config/config.hpp"
#include "observability/metrics.hpp"

using namespace gatehouse;
using namespace std::chrono_literals;

namespace {

std::string header(const admin::admin_response& r, const std::string& name) {
    for (auto& [k, v] : r.headers)
        if (k == name) return v;
    return {};
}

std::shared_ptr<const config::snapshot> build(const std::string& yaml, observability::metrics* m) {
    auto loaded = config::load_string(yaml, "status.yaml");
    for (auto& d : loaded.diags.all()) ADD_FAILURE() << d.to_string();
    if (!loaded.config) return nullptr;
    config::diagnostics diags("status.yaml");
    config::snapshot_services services;
    services.metrics = m;
    auto snap = config::build_snapshot(std::move(*loaded.config), 7, diags, services);
    for (auto& d : diags.all()) ADD_FAILURE() << d.to_string();
    return snap;
}

void count(observability::route_stats& s, std::size_t worker, std::string_view method, int status, std::uint64_t n) {
    s.at(worker).requests[0][observability::method_slot(method)][observability::code_slot(status)].add(n);
}

}  // namespace

TEST(StatusPage, ServesTheShellScriptAndStyleUnderTheStrictPolicy) {
    const std::pair<const char*, const char*> files[] = {{"/status", "text/html; charset=utf-8"},
                                                         {"/status.js", "text/javascript; charset=utf-8"},
                                                         {"/status.css", "text/css; charset=utf-8"}};
    for (auto [path, type] : files) {
        auto r = admin::status_page_answer("GET", path);
        ASSERT_TRUE(r) << path;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->content_type, type);
        EXPECT_FALSE(r->body.empty());
        EXPECT_EQ(header(*r, "Content-Security-Policy"), admin::k_status_csp);
        EXPECT_EQ(header(*r, "X-Content-Type-Options"), "nosniff");
    }
    EXPECT_EQ(admin::status_page_answer("GET", "/status")->body, admin::k_status_html);
    EXPECT_EQ(admin::status_page_answer("HEAD", "/status.js")->body, admin::k_status_js);
}

TEST(StatusPage, OnlyGetAndHeadAnd405WithAllowOtherwise) {
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        auto r = admin::status_page_answer(method, "/status");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 405) << method;
        EXPECT_EQ(header(*r, "Allow"), "GET, HEAD");
    }
}

TEST(StatusPage, AnswersNothingForOtherPaths) {
    for (const char* path : {"/stats", "/statusx", "/status/", "/status.json", "/", "/status.js/x"})
        EXPECT_FALSE(admin::status_page_answer("GET", path)) << path;
}

TEST(StatusPage, TheFilesNeedNothingTheirPolicyForbids) {
    // script-src 'self' and style-src 'self' refuse inline code: the shell only points at files.
    const std::string html(admin::k_status_html);
    EXPECT_NE(html.find(R"(<script src="/status.js" defer></script>)"), std::string::npos);
    EXPECT_NE(html.find(R"(<link rel="stylesheet" href="/status.css">)"), std::string::npos);
    EXPECT_NE(html.find(R"(name="viewport")"), std::string::npos);
    EXPECT_EQ(html.find("<style"), std::string::npos);
    EXPECT_EQ(html.find("style="), std::string::npos);
    EXPECT_FALSE(std::regex_search(html, std::regex(R"(\son[a-z]+\s*=)")));  // no onclick= and the like
    EXPECT_EQ(html.find("http"), std::string::npos);                         // nothing from elsewhere
    // Text only: the script never parses markup out of data.
    const std::string js(admin::k_status_js);
    for (const char* sink : {".innerHTML", ".outerHTML", "insertAdjacentHTML(", "document.write", "eval(", "new Function"})
        EXPECT_EQ(js.find(sink), std::string::npos) << sink;
}

TEST(StatusStats, RouteTrafficSumsTheWorkersByStatusClass) {
    observability::route_stats s("r", 3);
    count(s, 0, "GET", 200, 5);
    count(s, 1, "POST", 201, 2);
    count(s, 2, "GET", 404, 3);
    count(s, 0, "OTHER", 503, 1);
    count(s, 1, "GET", 599, 4);  // not a registered code: counted under its class
    count(s, 2, "GET", 301, 1);
    count(s, 2, "GET", 499, 2);  // a client that left: 4xx, not an error of ours
    auto j = admin::route_traffic_json(&s);
    EXPECT_EQ(j["requests"], 18);
    EXPECT_EQ(j["responses"], (nlohmann::json{{"1xx", 0}, {"2xx", 7}, {"3xx", 1}, {"4xx", 5}, {"5xx", 5}}));
    EXPECT_TRUE(admin::route_traffic_json(nullptr).is_null());  // metrics off
}

TEST(StatusStats, CertificateDaysLeftAndExpiry) {
    const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
    tls::server_context::certificate_info c{"/etc/tls/a.pem", {"a.example.com", "*.a.example.com"}, now - 24h * 30, now + 36h};
    auto j = admin::certificate_json(c, "public", now);
    EXPECT_EQ(j["listener"], "public");
    EXPECT_EQ(j["file"], "/etc/tls/a.pem");
    EXPECT_EQ(j["names"], (nlohmann::json{"a.example.com", "*.a.example.com"}));
    EXPECT_EQ(j["not_after"], "2027-01-16T20:00:00Z");
    EXPECT_DOUBLE_EQ(j["days_left"].get<double>(), 1.5);
    EXPECT_FALSE(j["expired"].get<bool>());
    c.not_after = now - 12h;
    j = admin::certificate_json(c, "public", now);
    EXPECT_DOUBLE_EQ(j["days_left"].get<double>(), -0.5);
    EXPECT_TRUE(j["expired"].get<bool>());
}

TEST(StatusStats, RoutesInConfigOrderWithTheirCountersAndListenersAsBound) {
    observability::metrics m(2);
    auto snap = build(R"(listeners: [{ name: public, listen: 127.0.0.1:0 }]
upstreams: [{ name: u, discovery: { static: [127.0.0.1:9] } }]
routes:
  - { name: "<script>alert(1)</script>", match: { path: /x }, respond: { status: 204 } }
  - { name: api, match: { path_prefix: /api }, upstream: u }
)",
                      &m);
    ASSERT_TRUE(snap);
    count(*m.route("api"), 1, "GET", 502, 2);
    auto stats = m.listener("public");
    stats->at(0).total.add(3);
    stats->at(1).total.add(4);
    stats->at(1).rejected.add(1);
    admin::listener_view l{"public", {"127.0.0.1", 0}, 2, stats.get(), nullptr};
    l.listen.port = 8080;
    auto j = admin::stats_to_json(*snap, {l}, std::chrono::system_clock::from_time_t(1'800'000'000));
    EXPECT_EQ(j["time"], 1'800'000'000.0);
    EXPECT_EQ(j["generation"], 7);
    EXPECT_TRUE(j["metrics"].get<bool>());
    ASSERT_EQ(j["routes"].size(), 2u);
    EXPECT_EQ(j["routes"][0]["name"], "<script>alert(1)</script>");  // names as they are: the page writes text
    EXPECT_EQ(j["routes"][0]["respond"], 204);
    EXPECT_EQ(j["routes"][0]["traffic"]["requests"], 0);
    EXPECT_EQ(j["routes"][1]["upstream"], "u");
    EXPECT_EQ(j["routes"][1]["traffic"]["responses"]["5xx"], 2);
    EXPECT_EQ(j["listeners"][0], (nlohmann::json{{"name", "public"},
                                                 {"address", "127.0.0.1:8080"},
                                                 {"tls", false},
                                                 {"connections", 2},
                                                 {"accepted", 7},
                                                 {"rejected", 1},
                                                 {"tls_handshake_failures", 0},
                                                 {"client_aborts", 0}}));
    EXPECT_TRUE(j["certificates"].empty());
}
