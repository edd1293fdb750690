// server::check_config, the path of `gatehouse check`: a setting this build would ignore is a
// warning, not an error, and not silence (the reactor's kind is injected).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "server/check.hpp"

using gatehouse::server::check_config;

namespace {

const char* k_routes = R"(listeners: [{ name: public, listen: 127.0.0.1:8080 }]
routes: [{ name: r, match: { path: /x }, respond: { status: 200, body: hi } }]
)";

struct check_run {
    int code;
    std::string out, err;
};

check_run check(const std::string& name, const std::string& yaml, bool reactor_patched) {
    const std::string path = testing::TempDir() + name;
    std::ofstream(path) << yaml;
    std::ostringstream out, err;
    const int code = check_config(path, out, err, reactor_patched);
    return {code, out.str(), err.str()};
}

}  // namespace

TEST(Check, BatchWaitOnAStockReactorIsAWarningAtItsLine) {
    auto r = check("stock_batch_wait.yaml", std::string(k_routes) + "event_loop:\n  batch_wait: 500us\n", false);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("stock_batch_wait.yaml: OK"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("stock_batch_wait.yaml:4:15: event_loop.batch_wait: warning: has no effect in this build"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("Upgrading Boost"), std::string::npos) << r.err;
}

TEST(Check, TheDefaultBatchWaitOnAStockReactorIsAWarningToo) {
    auto r = check("stock_default.yaml", k_routes, false);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("event_loop.batch_wait: warning: the default, 200us, has no effect"), std::string::npos) << r.err;
}

TEST(Check, NoBatchWaitWarningWhenOffOrOnThePatchedReactor) {
    auto off = check("stock_off.yaml", std::string(k_routes) + "event_loop: { batch_wait: 0s }\n", false);
    EXPECT_EQ(off.code, 0);
    EXPECT_EQ(off.err, "");
    auto patched = check("patched.yaml", std::string(k_routes) + "event_loop: { batch_wait: 1ms }\n", true);
    EXPECT_EQ(patched.code, 0);
    EXPECT_EQ(patched.err, "");
}

TEST(Check, AnErrorStillFailsBesideTheWarning) {
    auto r = check("stock_broken.yaml", std::string(k_routes) + "event_loop: { batch_wait: 1ms, nap: 2 }\n", false);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("event_loop.nap"), std::string::npos) << r.err;
}

TEST(Check, AShadowedRouteIsAWarningNamingBothRoutesLineAndColumn) {
    auto r = check("shadowed.yaml", R"(listeners: [{ name: public, listen: 127.0.0.1:8080 }]
event_loop: { batch_wait: 0s }
routes:
  - name: users
    match: { path_prefix: /users/ }
    respond: { status: 200 }
  - name: user
    match: { path_template: "/users/{id}", methods: [GET] }
    respond: { status: 200 }
  - name: other-host
    match: { host: api.example.com, path: /users/1 }
    respond: { status: 200 }
)",
                   false);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(
        r.err,
        testing::TempDir() +
            "shadowed.yaml:7:5: routes[1]: warning: route 'user' can never match: route 'users' (routes[0] at 4:5) comes first in the "
            "same host group and accepts every request it could\n");
}
