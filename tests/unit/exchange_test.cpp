// The exchange in process: a request handed over as a protocol-neutral head, served through a
// recording downstream stream on a real worker (its snapshot, its random request ids). These are
// the tests any codec's requests must pass unchanged: routing, the middleware's verdicts and
// gatehouse's own replies, written as a response head and body whatever the wire.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/snapshot.hpp"
#include "gatehouse/config/config.hpp"
#include "http/exchange.hpp"
#include "net/listener_state.hpp"
#include "server/worker.hpp"

// Requests are written with designated initializers naming only what differs from a plain GET.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using namespace gatehouse;
namespace asio = boost::asio;

// A downstream stream that keeps what it is asked to send.
class recording_stream final : public http::downstream {
public:
    http::connection_facts facts_;
    struct response {
        int status = 0;
        std::vector<std::pair<std::string, std::string>> fields;
        std::optional<std::uint64_t> content_length;
        std::string body;
        bool ended = false;
        std::optional<std::string> field(std::string_view name) const {
            for (auto& [k, v] : fields)
                if (http::iequals(k, name)) return v;
            return std::nullopt;
        }
    };
    std::vector<response> interims;
    std::optional<response> final;
    int heads = 0;
    bool was_reset = false;
    std::vector<std::pair<std::string, std::string>> trailers_sent;
    // The request body the client sends, in pieces, and its trailers.
    std::vector<std::string> body_pieces;
    std::vector<http::field> body_trailers;
    std::size_t body_next = 0;
    std::string body_buf;

    const http::connection_facts& facts() const override { return facts_; }
    std::string_view body_ready() override { return body_buf; }
    void consume_body(std::size_t n) override { body_buf.erase(0, n); }
    asio::awaitable<http::body_status> read_body() override {
        if (body_next < body_pieces.size()) body_buf += body_pieces[body_next++];
        co_return http::body_status::ok;
    }
    bool body_done() const override { return body_next == body_pieces.size(); }
    http::trailers request_trailers() const override { return body_trailers; }
    asio::awaitable<http::interim_outcome> send_interim(const http::response_head& head) override {
        interims.push_back(copy(head));
        co_return http::interim_outcome::sent;
    }
    asio::awaitable<bool> send_head(const http::response_head& head, std::string_view data, bool end_stream) override {
        ++heads;
        final = copy(head);
        final->body = data;
        final->ended = end_stream;
        co_return true;
    }
    asio::awaitable<bool> send_data(std::string_view data, bool end_stream) override {
        EXPECT_TRUE(final && !final->ended) << "data before the head or after the end";
        final->body += data;
        final->ended = end_stream;
        co_return true;
    }
    asio::awaitable<bool> send_trailers(const http::trailers& t) override {
        EXPECT_TRUE(final && !final->ended) << "trailers before the head or after the end";
        for (auto& f : t) trailers_sent.emplace_back(std::string(f.name), std::string(f.value));
        final->ended = true;
        co_return true;
    }
    void reset() override { was_reset = true; }

private:
    static response copy(const http::response_head& head) {
        response r;
        r.status = head.status;
        if (head.kept) {
            for (auto i : *head.kept) r.fields.emplace_back(std::string(head.fields[i].name), std::string(head.fields[i].value));
        } else {
            for (auto& f : head.fields) r.fields.emplace_back(std::string(f.name), std::string(f.value));
        }
        for (auto& f : head.added) r.fields.emplace_back(std::string(f.name), std::string(f.value));
        r.content_length = head.content_length;
        return r;
    }
};

// A request as a codec would hand it over.
struct request {
    std::string method = "GET", authority = "example.com", path = "/", query;
    std::vector<std::pair<std::string, std::string>> fields;
    std::optional<std::uint64_t> content_length;
};

std::shared_ptr<const config::snapshot> build(const std::string& yaml) {
    auto loaded = config::load_string(yaml, "exchange.yaml");
    for (auto& d : loaded.diags.all()) ADD_FAILURE() << d.to_string();
    if (!loaded.config) return nullptr;
    config::diagnostics diags("exchange.yaml");
    auto snap = config::build_snapshot(std::move(*loaded.config), 1, diags);
    for (auto& d : diags.all()) ADD_FAILURE() << d.to_string();
    return snap;
}

class Exchange : public ::testing::Test {
protected:
    void load(const std::string& yaml) {
        snap_ = build(yaml);
        ASSERT_TRUE(snap_);
        worker_ = std::make_unique<server::worker>(0, snap_);
        listener_ = std::make_unique<net::listener_state>(asio::ip::tcp::acceptor(worker_->ioc()), snap_->config.listeners.at(0), "test",
                                                          nullptr, nullptr);
        stream_.facts_.peer = "127.0.0.1";
        stream_.facts_.protocol = "HTTP/2";
        ex_ = std::make_unique<http::exchange>(*worker_, *listener_, stream_);
    }

    // Runs the request through the exchange; the response it wrote, or nullopt when it goes upstream.
    // keep_open: the exchange is not completed (the test goes on with its upstream phase).
    std::optional<recording_stream::response> serve(const request& r, bool keep_open = false) {
        stream_.final.reset();
        stream_.heads = 0;
        request_ = r;  // the exchange's views point into it until complete()
        auto& fields = fields_;
        fields.clear();
        for (auto& [k, v] : request_.fields) fields.push_back({k, v});
        http::request_head head;
        head.method = request_.method;
        head.scheme = "http";
        head.authority = request_.authority;
        head.path = request_.path;
        head.query = request_.query;
        head.has_query = !request_.query.empty();
        head.fields = fields;
        head.has_body = request_.content_length.has_value();
        head.content_length = request_.content_length;
        ex_->begin();
        ex_->note_head(head, true, {});
        if (request_.path != "*") {
            if (const char* why = ex_->normalise_path()) {
                ADD_FAILURE() << why;
                return std::nullopt;
            }
        }
        std::optional<http::exchange::next> next;
        bool written = false;
        const auto answer = ex_->decide();
        if (answer == http::exchange::answer::upstream) next = http::exchange::next::upstream;
        else
            asio::co_spawn(worker_->ioc(), ex_->serve(answer, written), [&](std::exception_ptr e, http::exchange::next n) {
                if (e) std::rethrow_exception(e);
                next = n;
            });
        worker_->ioc().run();
        worker_->ioc().restart();
        EXPECT_TRUE(next.has_value()) << "the exchange did not finish";
        std::optional<recording_stream::response> out;
        if (next == http::exchange::next::answered) {
            EXPECT_TRUE(written);
            EXPECT_EQ(stream_.heads, 1);
            EXPECT_TRUE(stream_.final && stream_.final->ended);
            out = stream_.final;
        }
        last_status_ = ex_->status;
        if (!keep_open) ex_->complete();
        return out;
    }

    nlohmann::json error_json(const recording_stream::response& r) {
        EXPECT_EQ(r.field("content-type"), "application/json");
        EXPECT_EQ(r.content_length, r.body.size());
        return nlohmann::json::parse(r.body);
    }

    std::shared_ptr<const config::snapshot> snap_;
    std::unique_ptr<server::worker> worker_;
    std::unique_ptr<net::listener_state> listener_;
    recording_stream stream_;
    std::unique_ptr<http::exchange> ex_;
    request request_;
    std::vector<http::field> fields_;
    int last_status_ = 0;
};

const char* k_routes = R"(
listeners: [{ name: public, listen: 127.0.0.1:0 }]
routes:
  - name: hello
    match: { path: /hello, methods: [GET, HEAD] }
    respond: { status: 200, body: "hello\n", content_type: text/plain, headers: { X-Kind: greeting } }
  - name: moved
    match: { path_prefix: /old }
    redirect: { status: 301, path: /new }
  - name: away
    match: { path_prefix: /away }
    redirect: { status: 308, scheme: https, host: other.example, port: 8443, strip_query: true }
  - name: small
    match: { path_prefix: /upload }
    limits: { max_body_bytes: 10 }
    upstream: u
  - name: proxied
    match: { path_prefix: /api/ }
    upstream: u
upstreams:
  - name: u
    discovery: { static: [127.0.0.1:9] }
)";

TEST_F(Exchange, RoutesToTheConfiguredReply) {
    load(k_routes);
    auto r = serve({.path = "/hello"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello\n");
    EXPECT_EQ(r->content_length, 6u);
    EXPECT_EQ(r->field("content-type"), "text/plain");
    EXPECT_EQ(r->field("x-kind"), "greeting");
    EXPECT_EQ(r->field("x-request-id")->size(), 32u);  // a fresh request id
}

TEST_F(Exchange, KeepsASaneClientRequestId) {
    load(k_routes);
    auto r = serve({.path = "/hello", .fields = {{"X-Request-Id", "abc-123"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->field("x-request-id"), "abc-123");
    r = serve({.path = "/hello", .fields = {{"X-Request-Id", "bad id with spaces"}}});
    ASSERT_TRUE(r);
    EXPECT_NE(r->field("x-request-id"), "bad id with spaces");
}

TEST_F(Exchange, NoRouteIsA404InTheJsonShape) {
    load(k_routes);
    auto r = serve({.path = "/nowhere", .fields = {{"X-Request-Id", "rid-1"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    auto j = error_json(*r);
    EXPECT_EQ(j["status"], 404);
    EXPECT_EQ(j["error"], "no route matches the request");
    EXPECT_EQ(j["request_id"], "rid-1");
    // A method the route does not take is no match either.
    EXPECT_EQ(serve({.method = "POST", .path = "/hello"})->status, 404);
}

TEST_F(Exchange, RedirectsKeepOrReplaceTheRequestParts) {
    load(k_routes);
    auto r = serve({.authority = "example.com:8080", .path = "/old/page", .query = "a=1"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 301);
    EXPECT_EQ(r->field("location"), "http://example.com:8080/new?a=1");
    EXPECT_EQ(r->content_length, 0u);
    r = serve({.path = "/away/x", .query = "a=1"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 308);
    EXPECT_EQ(r->field("location"), "https://other.example:8443/away/x");
}

TEST_F(Exchange, TheNormalisedPathIsRouted) {
    load(k_routes);
    auto r = serve({.path = "/x/../hello"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(Exchange, OptionsAsteriskAnswersForTheServer) {
    load(k_routes);
    auto r = serve({.method = "OPTIONS", .path = "*"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->field("allow"));
    EXPECT_EQ(r->content_length, 0u);
}

TEST_F(Exchange, ABodyOverTheRoutesLimitIs413BeforeAnythingIsRead) {
    load(k_routes);
    auto r = serve({.method = "POST", .path = "/upload", .content_length = 11});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(error_json(*r)["status"], 413);
    // Within the limit, the request goes upstream.
    EXPECT_FALSE(serve({.method = "POST", .path = "/upload", .content_length = 10}));
}

TEST_F(Exchange, AProxiedRouteGoesUpstreamWithItsChainRun) {
    load(k_routes);
    EXPECT_FALSE(serve({.path = "/api/users"}));
    EXPECT_EQ(stream_.heads, 0);
}

TEST_F(Exchange, ARedirectOnlyListenerSendsEveryRequestToHttps) {
    load(R"(
listeners: [{ name: public, listen: 127.0.0.1:0, redirect_https: { port: 8443 } }]
routes: [{ name: r, respond: { status: 200 } }]
)");
    auto r = serve({.authority = "example.com:8080", .path = "/a/b", .query = "q=1"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 308);
    EXPECT_EQ(r->field("location"), "https://example.com:8443/a/b?q=1");
    r = serve({.authority = "", .path = "/a"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
}

const char* k_middleware = R"(
listeners: [{ name: public, listen: 127.0.0.1:0 }]
routes:
  - name: keyed
    match: { path: /keyed }
    respond: { status: 200, body: ok }
    middleware:
      - api_key: { keys: [{ consumer: alice, sha256: 72ee9d4355ccb9d3a4c9dbf37382e38e75c1b1a225b5bd1f729ee91bbda30c20 }] }
  - name: local-only
    match: { path: /local }
    respond: { status: 200, body: ok }
    middleware:
      - ip_filter: { allow: [10.0.0.0/8] }
  - name: limited
    match: { path: /limited }
    respond: { status: 200, body: ok }
    middleware:
      - rate_limit: { limits: [{ name: per-client, key: client_ip, rate: 2/m, burst: 1 }] }
  - name: browser
    match: { path: /browser }
    respond: { status: 200, body: ok }
    middleware:
      - cors: { allow_origins: [https://app.example.com], allow_methods: [GET, PUT] }
      - headers: { response: { set: { X-Frame-Options: DENY }, remove: [X-Kind] } }
)";

TEST_F(Exchange, AMiddlewaresReplyIsWrittenInTheErrorShapeWithItsFields) {
    load(k_middleware);
    auto r = serve({.path = "/keyed"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(error_json(*r)["status"], 401);
    r = serve({.path = "/keyed", .fields = {{"X-API-Key", "wrong"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = serve({.path = "/keyed", .fields = {{"X-API-Key", "alice-key"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
}

TEST_F(Exchange, AnIpFilterRefusesByTheClientsAddress) {
    load(k_middleware);
    auto r = serve({.path = "/local"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    stream_.facts_.peer = "10.1.2.3";
    r = serve({.path = "/local"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(Exchange, ARateLimitAnswers429WithRetryAfterOnceTheBurstIsSpent) {
    load(k_middleware);
    std::vector<int> statuses;
    std::optional<recording_stream::response> last;
    for (int i = 0; i < 3; ++i) {
        last = serve({.path = "/limited"});
        ASSERT_TRUE(last);
        statuses.push_back(last->status);
    }
    EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429}));
    EXPECT_TRUE(last->field("retry-after"));
    EXPECT_TRUE(last->field("ratelimit-policy"));
}

TEST_F(Exchange, TheResponseChainEditsGatehousesOwnReplies) {
    load(k_middleware);
    // A preflight: answered by cors itself, 204 without a body or a length.
    auto r = serve({.method = "OPTIONS",
                    .path = "/browser",
                    .fields = {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "PUT"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_FALSE(r->content_length);
    EXPECT_TRUE(r->body.empty());
    EXPECT_EQ(r->field("access-control-allow-origin"), "https://app.example.com");
    // An actual request: the response chain adds to the route's own reply.
    r = serve({.path = "/browser", .fields = {{"Origin", "https://app.example.com"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->field("access-control-allow-origin"), "https://app.example.com");
    EXPECT_EQ(r->field("x-frame-options"), "DENY");
}

const char* k_forwarding = R"(
listeners: [{ name: public, listen: 127.0.0.1:0, trusted_proxies: [10.0.0.0/8] }]
routes:
  - name: api
    match: { path_prefix: /api }
    rewrite: { strip_prefix: /api }
    upstream: u
    middleware:
      - headers: { request: { set: { X-Gateway-Route: "${route}" }, remove: [X-Debug] } }
upstreams:
  - name: u
    discovery: { static: [127.0.0.1:9] }
)";

// The forwarding policy on a neutral request: what the upstream codec gets to write.
TEST_F(Exchange, TheForwardingPolicyKeepsEndToEndFieldsAndAddsGatehouses) {
    load(k_forwarding);
    stream_.facts_.peer = "10.1.1.1";  // a trusted proxy
    stream_.facts_.trusted_proxy = true;
    request r{.path = "/api/users",
              .query = "a=1",
              .fields = {{"Accept", "*/*"},
                         {"Connection", "keep-alive, X-Hop"},
                         {"X-Hop", "dropped: named by Connection"},
                         {"Keep-Alive", "timeout=5"},
                         {"TE", "trailers, deflate"},
                         {"X-Forwarded-For", "192.0.2.7"},
                         {"X-Debug", "removed by middleware"},
                         {"X-Request-Id", "rid-7"},
                         {"Content-Length", "0"},
                         {"Cookie", "a=b"}}};
    EXPECT_FALSE(serve(r, /*keep_open=*/true));
    const auto& f = ex_->forward(*ex_->route, "u", {});
    EXPECT_EQ(f.method, "GET");
    EXPECT_EQ(f.path, "/users");  // strip_prefix
    EXPECT_EQ(f.query, "a=1");
    EXPECT_EQ(f.authority, "example.com");
    std::vector<std::string> kept;
    for (auto i : f.kept) kept.emplace_back(f.source[i].name);
    EXPECT_EQ(kept, (std::vector<std::string>{"Accept", "Cookie"}));
    EXPECT_TRUE(f.te_trailers);
    EXPECT_EQ(f.forwarded_for_claim, "192.0.2.7");
    EXPECT_EQ(f.peer, "10.1.1.1");
    EXPECT_EQ(f.forwarded_proto, "http");
    EXPECT_EQ(f.request_id, "rid-7");
    ASSERT_EQ(f.added.size(), 1u);
    EXPECT_TRUE(http::iequals(f.added[0].name, "X-Gateway-Route")) << f.added[0].name;
    EXPECT_EQ(f.added[0].value, "api");
    ex_->complete();
}

TEST_F(Exchange, ForwardingClaimsOfAnUntrustedPeerAreDropped) {
    load(k_forwarding);
    request r{.path = "/api/x", .fields = {{"X-Forwarded-For", "192.0.2.7"}, {"X-Forwarded-Proto", "https"}, {"Forwarded", "for=1.2.3.4"}}};
    EXPECT_FALSE(serve(r, true));
    const auto& f = ex_->forward(*ex_->route, "u", {});
    EXPECT_TRUE(f.kept.empty());
    EXPECT_EQ(f.forwarded_for_claim, "");
    EXPECT_EQ(f.forwarded_proto, "http");
    ex_->complete();
}

// A relayed response head: hop-by-hop fields, those its Connection field names and
// Content-Length (the codec frames the body) do not reach the client.
TEST_F(Exchange, ARelayedResponseKeepsEndToEndFields) {
    load(k_forwarding);
    EXPECT_FALSE(serve({.path = "/api/x"}, true));
    std::vector<http::field> up = {{"Content-Type", "text/plain"},   {"Connection", "close, X-Up"}, {"X-Up", "1"},
                                   {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"},       {"ETag", "\"v1\""}};
    const auto& h = ex_->relayed_head(200, "OK", up, 5);
    ASSERT_TRUE(h.kept);
    std::vector<std::string> kept;
    for (auto i : *h.kept) kept.emplace_back(h.fields[i].name);
    EXPECT_EQ(kept, (std::vector<std::string>{"Content-Type", "ETag"}));
    EXPECT_EQ(h.content_length, 5u);
    EXPECT_EQ(ex_->status, 200);
    ex_->complete();
}

}  // namespace
