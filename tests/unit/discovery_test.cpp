#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "discovery/etcd/etcd_events.hpp"
#include "discovery/file/endpoint_file.hpp"
#include "gatehouse/config/config.hpp"
#include "gatehouse/discovery/endpoint.hpp"
#include "upstream/pool.hpp"
#include "util/base64.hpp"

using namespace gatehouse;
using discovery::endpoint;

namespace {

endpoint ep(std::string ip, std::uint16_t port, std::uint32_t weight = 1, std::uint32_t priority = 0) {
    endpoint e;
    e.address = std::move(ip);
    e.port = port;
    e.weight = weight;
    e.priority = priority;
    return e;
}

config::load_result load_upstream(const std::string& discovery) {
    return config::load_string(
        "listeners: [{ name: p, listen: 127.0.0.1:1 }]\nroutes: [{ name: r, upstream: u }]\nupstreams:\n  - name: u\n    discovery: " +
            discovery + "\n",
        "gw.yaml");
}

}  // namespace

TEST(EndpointSet, NormaliseSortsAndDropsDuplicateAddresses) {
    auto n = discovery::normalise({ep("10.0.0.2", 80), ep("10.0.0.1", 80, 5), ep("10.0.0.1", 80, 7), ep("::1", 80)});
    ASSERT_EQ(n.size(), 3u);
    EXPECT_EQ(n[0].key(), "10.0.0.1:80");
    EXPECT_EQ(n[0].weight, 5u);  // the first listed wins
    EXPECT_EQ(n[2].key(), "[::1]:80");
}

TEST(EndpointSet, DiffNamesAddedRemovedChanged) {
    auto a = discovery::normalise({ep("10.0.0.1", 80), ep("10.0.0.2", 80), ep("10.0.0.3", 80)});
    auto b = discovery::normalise({ep("10.0.0.2", 80, 3), ep("10.0.0.3", 80), ep("10.0.0.4", 80)});
    auto d = discovery::diff(a, b);
    EXPECT_EQ(d.added, std::vector<std::string>{"10.0.0.4:80"});
    EXPECT_EQ(d.removed, std::vector<std::string>{"10.0.0.1:80"});
    EXPECT_EQ(d.changed, std::vector<std::string>{"10.0.0.2:80"});
    EXPECT_TRUE(discovery::diff(a, a).empty());
}

TEST(EndpointSet, LowestPriorityGroupIsTheSrvGroupInUse) {
    std::vector<endpoint> eps{ep("10.0.0.1", 80, 1, 20), ep("10.0.0.2", 80, 1, 10), ep("10.0.0.3", 80, 1, 10)};
    EXPECT_EQ(discovery::lowest_priority(eps), 10u);
    EXPECT_EQ(discovery::lowest_priority({}), 0u);
}

TEST(DiscoveryConfig, DnsNeedsExactlyOneOfNameAndSrvAndAPortForA) {
    auto r = load_upstream("{ dns: { name: orders.svc } }");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("gw.yaml:5:"), std::string::npos) << r.diags.to_string();
    EXPECT_NE(r.diags.to_string().find("upstreams[0].discovery.dns.port: required"), std::string::npos) << r.diags.to_string();
    r = load_upstream("{ dns: { name: a.svc, srv: _http._tcp.a.svc, port: 80 } }");
    EXPECT_NE(r.diags.to_string().find("exactly one of name"), std::string::npos) << r.diags.to_string();
    r = load_upstream("{ dns: { srv: _http._tcp.a.svc, port: 80 } }");
    EXPECT_NE(r.diags.to_string().find("SRV records carry their own port"), std::string::npos) << r.diags.to_string();
    r = load_upstream("{ dns: { name: a.svc, port: 80, refresh: 100ms, family: ipv5, resolvers: [dns.example:53] } }");
    auto t = r.diags.to_string();
    EXPECT_NE(t.find("refresh: must be at least 1s"), std::string::npos) << t;
    EXPECT_NE(t.find("expected any, ipv4 or ipv6"), std::string::npos) << t;
    EXPECT_NE(t.find("resolvers: expected IP:port"), std::string::npos) << t;
    r = load_upstream("{ dns: { name: a.svc, port: 80, refresh: 2s, resolvers: [127.0.0.1:5353] }, wait_for_first: false }");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    EXPECT_FALSE(r.config->upstreams[0].wait_for_first);
    EXPECT_EQ(r.config->upstreams[0].discovery->type, "dns");
}

TEST(DiscoveryConfig, OneSourcePerUpstreamAndUnknownKeysSuggest) {
    auto r = load_upstream("{ static: [127.0.0.1:1], file: { path: /x } }");
    EXPECT_NE(r.diags.to_string().find("an upstream takes one discovery source"), std::string::npos) << r.diags.to_string();
    r = load_upstream("{ etcd: { endpoints: [ftp://x], prefx: /s/ } }");
    auto t = r.diags.to_string();
    EXPECT_NE(t.find("expected http://host:port"), std::string::npos) << t;
    EXPECT_NE(t.find("did you mean 'prefix'"), std::string::npos) << t;
    r = load_upstream("{ }");
    EXPECT_NE(r.diags.to_string().find("needs a discovery source: one of dns, etcd, file, static"), std::string::npos)
        << r.diags.to_string();
}

TEST(DiscoveryConfig, SameSettingsSameIdentity) {
    auto a = load_upstream("{ etcd: { endpoints: [http://127.0.0.1:2379], prefix: /s/ } }");
    auto b = load_upstream("{ etcd: { endpoints: [http://127.0.0.1:2379], prefix: /s/ }, wait_for_first: false }");
    auto c = load_upstream("{ etcd: { endpoints: [http://127.0.0.1:2379], prefix: /t/ } }");
    ASSERT_TRUE(a.config && b.config && c.config);
    EXPECT_EQ(a.config->upstreams[0].discovery->identity, b.config->upstreams[0].discovery->identity);
    EXPECT_NE(a.config->upstreams[0].discovery->identity, c.config->upstreams[0].discovery->identity);
}

TEST(EndpointFile, ListsAndErrorsWithLineAndColumn) {
    auto f = discovery::parse_endpoint_file("- 10.0.0.1:80\n- { address: \"10.0.0.2:81\", weight: 3, zone: b }\n", "eps.yaml");
    ASSERT_TRUE(f.endpoints) << f.error;
    ASSERT_EQ(f.endpoints->size(), 2u);
    EXPECT_EQ((*f.endpoints)[1].weight, 3u);
    EXPECT_EQ((*f.endpoints)[1].zone, "b");
    f = discovery::parse_endpoint_file(R"({"endpoints": [{"address": "10.0.0.3:80", "weight": 2}]})", "eps.json");
    ASSERT_TRUE(f.endpoints) << f.error;
    EXPECT_EQ((*f.endpoints)[0].address.port, 80);
    f = discovery::parse_endpoint_file("- 10.0.0.1:80\n- { address: 10.0.0.2, wieght: 2 }\n", "eps.yaml");
    EXPECT_FALSE(f.endpoints);
    EXPECT_NE(f.error.find("eps.yaml:2:"), std::string::npos) << f.error;
    EXPECT_NE(f.error.find("expected host:port"), std::string::npos) << f.error;
    EXPECT_NE(f.error.find("did you mean 'weight'"), std::string::npos) << f.error;
    f = discovery::parse_endpoint_file("- [unclosed\n", "eps.yaml");
    EXPECT_FALSE(f.endpoints);
    EXPECT_NE(f.error.find("invalid YAML"), std::string::npos) << f.error;
}

TEST(Base64, RoundTripsAndRefusesGarbage) {
    for (std::string s : std::vector<std::string>{"", "a", "ab", "abc", "/services/inventory/", std::string("\0\xff", 2)})
        EXPECT_EQ(util::base64_decode(util::base64_encode(s)), s);
    EXPECT_EQ(util::base64_encode("/s/"), "L3Mv");
    EXPECT_FALSE(util::base64_decode("abc"));
    EXPECT_FALSE(util::base64_decode("a*b="));
}

TEST(Etcd, PrefixEnd) {
    EXPECT_EQ(discovery::etcd::prefix_end("/services/a/"), "/services/a0");
    EXPECT_EQ(discovery::etcd::prefix_end("a\xff"), "b");
}

TEST(Etcd, ValuesAreJsonOrBareAddresses) {
    std::string err;
    auto e = discovery::etcd::parse_value("/s/a", R"({"address": "10.0.0.9:8080", "weight": 3})", err);
    ASSERT_TRUE(e) << err;
    EXPECT_EQ(e->weight, 3u);
    EXPECT_EQ(e->source, "etcd /s/a");
    e = discovery::etcd::parse_value("/s/b", "10.0.0.9:8081\n", err);
    ASSERT_TRUE(e) << err;
    EXPECT_EQ(e->address.port, 8081);
    EXPECT_FALSE(discovery::etcd::parse_value("/s/c", R"({"address": "10.0.0.9:8080", "weight": 0})", err));
    EXPECT_NE(err.find("weight"), std::string::npos);
    EXPECT_FALSE(discovery::etcd::parse_value("/s/d", "not an address", err));
    EXPECT_FALSE(discovery::etcd::parse_value("/s/e", R"({"adress": "x:1"})", err));
}

// Recorded from etcd 3.4's JSON gateway (keys and values base64).
TEST(Etcd, RangeThenWatchEvents) {
    using nlohmann::json;
    using discovery::etcd::watch_action;
    discovery::etcd::key_state st;
    std::string err;
    auto range = json::parse(
        R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"7","raft_term":"2"},
        "kvs":[{"key":"L3NlcnZpY2VzL2ludmVudG9yeS9h","create_revision":"5","mod_revision":"5","version":"1","value":"MTI3LjAuMC4xOjkwMDE="},
               {"key":"L3NlcnZpY2VzL2ludmVudG9yeS9i","create_revision":"6","mod_revision":"7","version":"2","value":"eyJhZGRyZXNzIjoiMTI3LjAuMC4xOjkwMDIiLCJ3ZWlnaHQiOjJ9"}],"count":"2"})");
    ASSERT_TRUE(discovery::etcd::read_range(range, st, err)) << err;
    EXPECT_EQ(st.revision, 7);
    ASSERT_EQ(st.endpoints().size(), 2u);
    EXPECT_EQ(st.endpoints()[1].weight, 2u);

    auto created = json::parse(R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"2"},"created":true}})");
    EXPECT_EQ(discovery::etcd::apply_watch_message(created, st, err), watch_action::none);
    // a PUT (the type field is left out: the enum's zero value) and a DELETE
    auto events = json::parse(R"({"result":{"header":{"revision":"9"},"events":[
        {"kv":{"key":"L3NlcnZpY2VzL2ludmVudG9yeS9j","create_revision":"8","mod_revision":"8","version":"1","value":"MTI3LjAuMC4xOjkwMDM="}},
        {"type":"DELETE","kv":{"key":"L3NlcnZpY2VzL2ludmVudG9yeS9h","mod_revision":"9"}}]}})");
    EXPECT_EQ(discovery::etcd::apply_watch_message(events, st, err), watch_action::changed);
    EXPECT_EQ(st.revision, 9);
    auto eps = st.endpoints();
    ASSERT_EQ(eps.size(), 2u);
    EXPECT_EQ(eps[0].address.port, 9002);
    EXPECT_EQ(eps[1].address.port, 9003);
    auto progress = json::parse(R"({"result":{"header":{"revision":"12"}}})");
    EXPECT_EQ(discovery::etcd::apply_watch_message(progress, st, err), watch_action::none);
    EXPECT_EQ(st.revision, 12);
    auto compacted = json::parse(R"({"result":{"header":{"revision":"15"},"canceled":true,"compact_revision":"14"}})");
    EXPECT_EQ(discovery::etcd::apply_watch_message(compacted, st, err), watch_action::resync);
    auto backwards = json::parse(R"({"result":{"header":{"revision":"3"},"events":[]}})");
    EXPECT_EQ(discovery::etcd::apply_watch_message(backwards, st, err), watch_action::resync);
    EXPECT_EQ(discovery::etcd::apply_watch_message(json::parse(R"({"error":{"grpc_code":14,"message":"unavailable"}})"), st, err),
              watch_action::error);
    // an invalid value is left out, not fatal
    auto bad = json::parse(R"({"result":{"header":{"revision":"16"},"events":[{"kv":{"key":"L3MveA==","value":"bm9wZQ=="}}]}})");
    EXPECT_EQ(discovery::etcd::apply_watch_message(bad, st, err), watch_action::changed);
    EXPECT_EQ(st.endpoints().size(), 2u);
    EXPECT_EQ(st.invalid.size(), 1u);
}

TEST(Etcd, SplitsAStreamOfJsonObjects) {
    std::vector<std::string_view> out;
    std::string data = R"({"result":{"a":"}"}}
{"result":{"b":[1,{"c":"\""}]}}{"partial":)";
    auto used = discovery::etcd::split_json_stream(data, out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], R"({"result":{"a":"}"}})");
    EXPECT_EQ(data.substr(used), R"({"partial":)");
}

namespace {
std::shared_ptr<discovery::endpoint_set> set_of(std::uint64_t version, std::vector<endpoint> eps) {
    auto s = std::make_shared<discovery::endpoint_set>();
    s->version = version;
    s->endpoints = discovery::normalise(std::move(eps));
    return s;
}
}  // namespace

TEST(Pool, ChangedSetKeepsEndpointsThatStayAndRetiresRemovedOnes) {
    boost::asio::io_context ioc;
    net::deadline_list dl;
    auto def = std::make_shared<upstream::cluster>();
    def->health = std::make_shared<upstream::upstream_health>(config::upstream_config{});
    def->name = "u";
    auto st = std::make_shared<upstream::cluster_state>(def, ioc, dl, 1, nullptr, 0,
                                                        set_of(1, {ep("127.0.0.1", 1001), ep("127.0.0.1", 1002)}));
    ASSERT_EQ(st->size(), 2u);
    auto* kept = &st->endpoint(1);  // 127.0.0.1:1002
    auto leased = st->acquire(0);   // 127.0.0.1:1001, in flight when it leaves the set
    auto removed = leased->ep;
    st->update(set_of(2, {ep("127.0.0.1", 1002, 5), ep("127.0.0.1", 1003)}));
    ASSERT_EQ(st->size(), 2u);
    EXPECT_EQ(&st->endpoint(0), kept);  // same state object: its pool and TLS session stay
    EXPECT_EQ(st->endpoint(0).info.weight, 5u);
    EXPECT_EQ(st->endpoint(1).key, "127.0.0.1:1003");
    EXPECT_TRUE(removed->removed);
    EXPECT_EQ(removed->inflight, 1u);
    st->release(std::move(leased), true);  // not pooled: its endpoint is gone
    EXPECT_EQ(removed->open, 0u);
    EXPECT_EQ(st->idle_count(), 0u);
    st->update(set_of(3, {}));
    EXPECT_EQ(st->size(), 0u);
    EXPECT_EQ(st->pick(0, false), upstream::k_no_endpoint);
}

TEST(Pool, OnlyTheLowestPriorityGroupTakesTraffic) {
    boost::asio::io_context ioc;
    net::deadline_list dl;
    auto def = std::make_shared<upstream::cluster>();
    def->health = std::make_shared<upstream::upstream_health>(config::upstream_config{});
    auto st = std::make_shared<upstream::cluster_state>(def, ioc, dl, 1, nullptr, 0,
                                                        set_of(1, {ep("127.0.0.1", 1001, 1, 10), ep("127.0.0.1", 1002, 1, 20),
                                                                   ep("127.0.0.1", 1003, 1, 10)}));
    for (int i = 0; i < 20; ++i) EXPECT_NE(st->endpoint(st->pick(0, false)).key, "127.0.0.1:1002");
    st->update(set_of(2, {ep("127.0.0.1", 1002, 1, 20)}));
    EXPECT_EQ(st->endpoint(st->pick(0, false)).key, "127.0.0.1:1002");
}

TEST(LoadBalancer, KeyedRingKeepsKeysOfEndpointsThatStay) {
    std::vector<std::uint32_t> w3{1, 1, 1}, w2{1, 1};
    std::vector<std::string> k3{"a:1", "b:1", "c:1"}, k2{"a:1", "c:1"};
    upstream::hash_ring r3(w3, k3), r2(w2, k2);
    int moved = 0;
    for (int i = 0; i < 2000; ++i) {
        auto h = upstream::hash64("user-" + std::to_string(i));
        auto before = k3[r3.lookup(h)];
        auto after = k2[r2.lookup(h)];
        if (before != "b:1" && before != after) ++moved;
    }
    EXPECT_EQ(moved, 0);  // only b's keys move when b leaves
}
