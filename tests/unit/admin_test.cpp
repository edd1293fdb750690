// admin.auth and probes: the config keys (errors at the key's file:line:col), the bearer check,
// and the `check` warning for an admin listener that anyone on the network could use.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "admin/admin_auth.hpp"
#include "gatehouse/config/config.hpp"
#include "server/check.hpp"

using namespace gatehouse;

namespace {

const char* k_rest = R"(listeners: [{ name: public, listen: 127.0.0.1:8080 }]
routes: [{ name: r, respond: { status: 200 } }]
)";

config::load_result load(const std::string& yaml) { return config::load_string(yaml, "test.yaml"); }

std::string all(const config::load_result& r) { return r.diags.to_string(); }

std::string temp_file(const std::string& name, const std::string& content) {
    const std::string path = testing::TempDir() + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
}

}  // namespace

TEST(AdminAuthConfig, TheTokenIsTheFileLessItsTrailingNewline) {
    auto file = temp_file("admin-token-ok", "0123456789abcdef0123456789abcdef\r\n");
    auto r = load("admin: { listen: 127.0.0.1:9901, auth: { token_file: " + file + " } }\n" + k_rest);
    ASSERT_TRUE(r.config) << all(r);
    ASSERT_TRUE(r.config->admin.auth);
    EXPECT_EQ(r.config->admin.auth->token_file, file);
    EXPECT_EQ(r.config->admin.auth->token, "0123456789abcdef0123456789abcdef");
    EXPECT_FALSE(load(k_rest).config->admin.auth);  // no auth unless configured
}

TEST(AdminAuthConfig, AMissingTokenFileIsAnErrorAtTheKey) {
    auto r = load("admin:\n  auth:\n    token_file: /nonexistent/admin-token\n" + std::string(k_rest));
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("test.yaml:3:17: admin.auth.token_file: cannot read '/nonexistent/admin-token'"), std::string::npos) << all(r);
}

TEST(AdminAuthConfig, AnEmptyTokenFileIsAnErrorAtTheKey) {
    for (const char* content : {"", "\n", "\r\n\n"}) {
        auto file = temp_file("admin-token-empty", content);
        auto r = load("admin:\n  auth: { token_file: " + file + " }\n" + k_rest);
        EXPECT_FALSE(r.config) << "content: '" << content << "'";
        EXPECT_NE(all(r).find("test.yaml:2:23: admin.auth.token_file: '" + file + "' is empty"), std::string::npos) << all(r);
    }
}

TEST(AdminAuthConfig, ATokenThatCannotTravelInAHeaderOrIsShortIsRefused) {
    auto spaced = temp_file("admin-token-spaced", "0123456789 abcdef0123456789\n");
    auto r = load("admin: { auth: { token_file: " + spaced + " } }\n" + k_rest);
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("admin.auth.token_file: '" + spaced + "': the token must be one line of printable ASCII"), std::string::npos)
        << all(r);
    auto two_lines = temp_file("admin-token-lines", "0123456789abcdef\n0123456789abcdef\n");
    EXPECT_FALSE(load("admin: { auth: { token_file: " + two_lines + " } }\n" + k_rest).config);
    auto short_one = temp_file("admin-token-short", "secret\n");
    auto s = load("admin: { auth: { token_file: " + short_one + " } }\n" + k_rest);
    EXPECT_FALSE(s.config);
    EXPECT_NE(all(s).find("shorter than 16 characters"), std::string::npos) << all(s);
}

TEST(AdminAuthConfig, AuthNeedsTokenFileAndRejectsUnknownKeys) {
    auto r = load("admin: { auth: { token: abc } }\n" + std::string(k_rest));
    EXPECT_FALSE(r.config);
    EXPECT_NE(all(r).find("admin.auth.token: unknown key 'token'"), std::string::npos) << all(r);
    EXPECT_NE(all(r).find("admin.auth.token_file: required"), std::string::npos) << all(r);
}

TEST(ProbesConfig, ListenIsAnIpAddressAndPort) {
    auto ok = load("probes: { listen: 0.0.0.0:8081 }\n" + std::string(k_rest));
    ASSERT_TRUE(ok.config) << all(ok);
    ASSERT_TRUE(ok.config->probes);
    EXPECT_EQ(ok.config->probes->listen.host, "0.0.0.0");
    EXPECT_EQ(ok.config->probes->listen.port, 8081);
    EXPECT_FALSE(load(k_rest).config->probes);

    auto name = load("probes:\n  listen: probes.local:8081\n" + std::string(k_rest));
    EXPECT_FALSE(name.config);
    EXPECT_NE(all(name).find("test.yaml:2:11: probes.listen: listen addresses must be IP addresses"), std::string::npos) << all(name);
    auto garbage = load("probes: { listen: 8081 }\n" + std::string(k_rest));
    EXPECT_FALSE(garbage.config);
    EXPECT_NE(all(garbage).find("probes.listen: expected host:port"), std::string::npos) << all(garbage);
    auto missing = load("probes: {}\n" + std::string(k_rest));
    EXPECT_FALSE(missing.config);
    EXPECT_NE(all(missing).find("probes.listen: required"), std::string::npos) << all(missing);
    auto typo = load("probes: { listen: 0.0.0.0:8081, lisen: 1 }\n" + std::string(k_rest));
    EXPECT_FALSE(typo.config);
    EXPECT_NE(all(typo).find("did you mean 'listen'?"), std::string::npos) << all(typo);
}

TEST(ProbesConfig, AnAddressTheAdminOrAListenerUsesIsRefused) {
    auto admin = load("admin: { listen: 127.0.0.1:9901 }\nprobes: { listen: 127.0.0.1:9901 }\n" + std::string(k_rest));
    EXPECT_FALSE(admin.config);
    EXPECT_NE(all(admin).find("test.yaml:2:19: probes.listen: the admin listener already uses 127.0.0.1:9901"), std::string::npos)
        << all(admin);
    auto listener = load("probes: { listen: 127.0.0.1:8080 }\n" + std::string(k_rest));
    EXPECT_FALSE(listener.config);
    EXPECT_NE(all(listener).find("probes.listen: listener 'public' already uses 127.0.0.1:8080"), std::string::npos) << all(listener);
}

TEST(AdminAuthCheck, APublicAdminListenerWarnsOnlyWithoutAuth) {
    auto file = temp_file("admin-token-check", "0123456789abcdef0123456789abcdef\n");
    auto run = [](const std::string& name, const std::string& yaml) {
        std::ostringstream out, err;
        const int code = server::check_config(temp_file(name, yaml), out, err, true);
        return std::make_pair(code, err.str());
    };
    auto open = run("admin-open.yaml", "admin: { listen: 0.0.0.0:9901 }\n" + std::string(k_rest));
    EXPECT_EQ(open.first, 0);
    EXPECT_NE(open.second.find("admin-open.yaml:1:18: admin.listen: warning: the admin API is reachable from outside this host"),
              std::string::npos)
        << open.second;
    auto guarded = run("admin-guarded.yaml", "admin: { listen: 0.0.0.0:9901, auth: { token_file: " + file + " } }\n" + k_rest);
    EXPECT_EQ(guarded.first, 0);
    EXPECT_EQ(guarded.second, "");
    auto loopback = run("admin-loopback.yaml", "admin: { listen: 127.0.0.1:9901 }\n" + std::string(k_rest));
    EXPECT_EQ(loopback.second, "");
}

TEST(AdminBearer, OnlyTheExactTokenAfterTheBearerSchemeMatches) {
    const std::string token = "0123456789abcdef0123456789abcdef";
    EXPECT_TRUE(admin::bearer_matches("Bearer " + token, token));
    EXPECT_TRUE(admin::bearer_matches("bearer " + token, token));  // the scheme is case-insensitive
    EXPECT_TRUE(admin::bearer_matches("BEARER   " + token + " ", token));
    EXPECT_FALSE(admin::bearer_matches("", token));
    EXPECT_FALSE(admin::bearer_matches(token, token));             // no scheme
    EXPECT_FALSE(admin::bearer_matches("Basic " + token, token));  // another scheme
    EXPECT_FALSE(admin::bearer_matches("Bearer", token));
    EXPECT_FALSE(admin::bearer_matches("Bearer ", token));
    EXPECT_FALSE(admin::bearer_matches("Bearer " + token.substr(1), token));  // a prefix of it
    EXPECT_FALSE(admin::bearer_matches("Bearer " + token + "0", token));      // longer
    EXPECT_FALSE(admin::bearer_matches("Bearer 0123456789abcdef0123456789abcdeF", token));
    EXPECT_FALSE(admin::bearer_matches("Bearer ", ""));  // no token configured never matches
}

TEST(AdminBearer, OnlyTheProbePathsAreOpen) {
    EXPECT_TRUE(admin::is_probe_path("/-/healthy"));
    EXPECT_TRUE(admin::is_probe_path("/-/ready"));
    EXPECT_FALSE(admin::is_probe_path("/-/reload"));
    EXPECT_FALSE(admin::is_probe_path("/-/ready/"));
    EXPECT_FALSE(admin::is_probe_path("/metrics"));
}

TEST(AdminTlsConfig, ClientCaCountsAsAuthAndIdentityHeadersAreRefused) {
    const std::string tls = "tls: { certificates: [{ cert: /x/admin.pem, key: /x/admin.key }]";
    auto mtls = load("admin: { listen: 0.0.0.0:9901, " + tls + ", client_ca: /x/ca.pem } }\n" + k_rest);
    ASSERT_TRUE(mtls.config) << all(mtls);
    ASSERT_TRUE(mtls.config->admin.tls);
    EXPECT_EQ(mtls.config->admin.tls->client_ca, "/x/ca.pem");
    EXPECT_EQ(all(mtls).find("reachable from outside"), std::string::npos) << all(mtls);
    auto https_only = load("admin: { listen: 0.0.0.0:9901, " + tls + " } }\n" + k_rest);
    ASSERT_TRUE(https_only.config) << all(https_only);
    EXPECT_NE(all(https_only).find("reachable from outside this host without authentication"), std::string::npos) << all(https_only);
    auto headers = load("admin: { " + tls + ", client_ca: /x/ca.pem, identity_headers: { subject: x-s } } }\n" + k_rest);
    EXPECT_FALSE(headers.config);
    EXPECT_NE(all(headers).find("admin.tls: identity_headers: the admin API forwards nothing"), std::string::npos) << all(headers);
}
