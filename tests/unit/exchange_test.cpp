// The exchange in process: a request handed over as a protocol-neutral head, served through a
// recording downstream stream on a real worker (its snapshot, its random request ids). These are
// the tests any codec's requests must pass unchanged: routing, the middleware's verdicts and
// gatehouse's own replies, written as a response head and body whatever the wire.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
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
    bool chunked = false;  // a body of unknown length (its pieces and trailers: recording_stream)
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
        head.has_body = request_.content_length.has_value() || request_.chunked;
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
        const auto answer = ex_->pass_chain(ex_->decide());
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

// A real upstream on a loopback port, scripted: each connection it accepts reads one request to
// its end (the head, then a Content-Length body, or chunks to the last one) and gets the next
// reply's bytes (an empty reply: the connection closes unanswered).
class scripted_upstream {
public:
    explicit scripted_upstream(asio::io_context& ioc) : acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {}
    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    // Its socket goes on listening on another event loop.
    void move_to(asio::io_context& ioc) {
        auto fd = acceptor_.release();
        acceptor_ = asio::ip::tcp::acceptor(ioc, asio::ip::tcp::v4(), fd);
    }
    std::vector<std::string> replies;
    std::vector<std::string> requests;
    asio::awaitable<void> run() {
        for (std::size_t i = 0; i < replies.size(); ++i) {
            auto sock = co_await acceptor_.async_accept(asio::use_awaitable);
            requests.push_back(co_await read_request(sock));
            if (!replies[i].empty()) co_await asio::async_write(sock, asio::buffer(replies[i]), asio::use_awaitable);
            boost::system::error_code ec;
            sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        }
    }

private:
    static bool whole(const std::string& r) {
        auto end = r.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        auto head = r.substr(0, end + 4), body = r.substr(end + 4);
        if (head.find("Transfer-Encoding: chunked") != std::string::npos)
            return (body.starts_with("0\r\n") || body.find("\r\n0\r\n") != std::string::npos) && body.ends_with("\r\n\r\n");
        auto cl = head.find("Content-Length: ");
        return cl == std::string::npos || body.size() >= std::stoul(head.substr(cl + 16));
    }
    asio::awaitable<std::string> read_request(asio::ip::tcp::socket& sock) {
        std::string r;
        char buf[4096];
        while (!whole(r)) {
            auto n = co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable);
            r.append(buf, n);
        }
        co_return r;
    }
    asio::ip::tcp::acceptor acceptor_;
};

// The upstream phase in process: the exchange's request goes to a real upstream on loopback,
// its response back through the recording stream.
class ExchangeProxy : public Exchange {
protected:
    void start(const std::string& routes_extra) {
        up_ = std::make_unique<scripted_upstream>(ioc_probe_);
        port_ = up_->port();
        load(R"(
listeners: [{ name: public, listen: 127.0.0.1:0 }]
routes:
  - name: r
    match: { path_prefix: / }
    upstream: u
)" + routes_extra +
             R"(
upstreams:
  - name: u
    discovery: { static: [127.0.0.1:)" +
             std::to_string(port_) + "] }\n");
        up_->move_to(worker_->ioc());  // the upstream answers on the worker's own event loop
        // What discovery would publish (the daemon's job; posted to the worker's loop).
        auto set = std::make_shared<discovery::endpoint_set>();
        set->version = 1;
        set->endpoints.push_back({.address = "127.0.0.1", .port = port_, .source = "static"});
        worker_->post_endpoints("u", set);
        worker_->ioc().poll();
        worker_->ioc().restart();
    }
    // Runs the exchange's upstream phase to its end; whether the client got a whole response.
    bool proxy(const request& r) {
        EXPECT_FALSE(serve(r, true).has_value()) << "answered before the upstream";
        asio::co_spawn(worker_->ioc(), up_->run(), asio::detached);
        std::optional<bool> done;
        asio::co_spawn(worker_->ioc(), ex_->proxy(), [&](std::exception_ptr e, bool complete) {
            if (e) std::rethrow_exception(e);
            done = complete;
            worker_->ioc().stop();
        });
        worker_->ioc().run();
        worker_->ioc().restart();
        EXPECT_TRUE(done.has_value()) << "the upstream phase did not end";
        ex_->complete();
        return done.value_or(false);
    }
    asio::io_context ioc_probe_;
    std::unique_ptr<scripted_upstream> up_;
    unsigned short port_ = 0;
};

TEST_F(ExchangeProxy, RelaysTheUpstreamsResponse) {
    start("");
    up_->replies = {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: 1\r\nConnection: keep-alive, x-up\r\n\r\nhello"};
    ASSERT_TRUE(proxy({.path = "/a/b", .query = "q=1", .fields = {{"Accept", "text/plain"}}}));
    ASSERT_EQ(up_->requests.size(), 1u);
    const auto& sent = up_->requests[0];
    EXPECT_TRUE(sent.starts_with("GET /a/b?q=1 HTTP/1.1\r\nHost: example.com\r\n")) << sent;
    EXPECT_NE(sent.find("Accept: text/plain\r\n"), std::string::npos) << sent;
    EXPECT_NE(sent.find("X-Forwarded-For: 127.0.0.1\r\n"), std::string::npos) << sent;
    ASSERT_TRUE(stream_.final);
    EXPECT_EQ(stream_.final->status, 200);
    EXPECT_EQ(stream_.final->body, "hello");
    EXPECT_EQ(stream_.final->content_length, 5u);
    EXPECT_TRUE(stream_.final->ended);
    EXPECT_FALSE(stream_.final->field("x-up")) << "named by the upstream's Connection field";
    EXPECT_EQ(last_status_, 0);  // complete() notes the status; the exchange's own is reset per request
    EXPECT_EQ(ex_->upstream_status, 200);
}

TEST_F(ExchangeProxy, RetriesOnAnotherTryAndSaysSo) {
    start("    retry: { attempts: 1, on: [503] }\n");
    up_->replies = {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    stream_.body_buf = "body";  // all of it came with the head: it can be sent again
    ASSERT_TRUE(proxy({.method = "PUT", .content_length = 4}));
    ASSERT_EQ(up_->requests.size(), 2u);
    for (auto& r : up_->requests) EXPECT_TRUE(r.starts_with("PUT / HTTP/1.1\r\n") && r.ends_with("\r\n\r\nbody")) << r;
    ASSERT_TRUE(stream_.final);
    EXPECT_EQ(stream_.final->status, 200);
    EXPECT_EQ(stream_.final->body, "ok");
    EXPECT_EQ(ex_->upstream_attempts, 2);
}

TEST_F(ExchangeProxy, TrailersPassBothWays) {
    start("");
    stream_.body_pieces = {"abc", "defg"};
    stream_.body_trailers = {{"x-checksum", "42"}};
    up_->replies = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Result: done\r\n\r\n"};
    ASSERT_TRUE(proxy({.method = "POST", .fields = {{"TE", "trailers"}}, .chunked = true}));
    ASSERT_EQ(up_->requests.size(), 1u);
    const auto& sent = up_->requests[0];
    EXPECT_NE(sent.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << sent;
    EXPECT_NE(sent.find("TE: trailers\r\n"), std::string::npos) << sent;
    EXPECT_TRUE(sent.ends_with("\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nx-checksum: 42\r\n\r\n")) << sent;
    ASSERT_TRUE(stream_.final);
    EXPECT_EQ(stream_.final->body, "hello");
    EXPECT_FALSE(stream_.final->content_length);
    EXPECT_TRUE(stream_.final->ended);
    ASSERT_EQ(stream_.trailers_sent.size(), 1u);
    EXPECT_EQ(stream_.trailers_sent[0], (std::pair<std::string, std::string>{"X-Result", "done"}));
}

TEST_F(ExchangeProxy, ALargeBodyStreamsThroughWhole) {
    start("");
    up_->replies = {"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + std::string(300000, 'x')};
    ASSERT_TRUE(proxy({}));
    ASSERT_TRUE(stream_.final);
    EXPECT_EQ(stream_.final->content_length, 300000u);
    EXPECT_EQ(stream_.final->body, std::string(300000, 'x'));
    EXPECT_TRUE(stream_.final->ended);
    EXPECT_FALSE(stream_.was_reset);
}

TEST_F(ExchangeProxy, ACutResponseResetsTheStream) {
    start("");
    up_->replies = {"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly this"};
    EXPECT_FALSE(proxy({}));
    EXPECT_TRUE(stream_.was_reset);
    ASSERT_TRUE(stream_.final);
    EXPECT_FALSE(stream_.final->ended) << "a cut body must never look whole";
}

TEST_F(ExchangeProxy, AFailedCallIsAnsweredByGatehouse) {
    start("");
    up_->replies = {""};  // the connection closes unanswered
    EXPECT_TRUE(proxy({}));
    ASSERT_TRUE(stream_.final);
    EXPECT_EQ(stream_.final->status, 502);
    EXPECT_EQ(error_json(*stream_.final)["status"], 502);
}

// gRPC requests get gRPC answers from gatehouse: HTTP 200, Trailers-Only (grpc-status and
// grpc-message in a head that ends the stream), in the request's protocol's content-type.
void expect_trailers_only(const recording_stream::response& r, std::string_view grpc_status,
                          std::string_view content_type = "application/grpc") {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.field("content-type"), content_type);
    EXPECT_EQ(r.field("grpc-status"), grpc_status);
    EXPECT_TRUE(r.field("grpc-message"));
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.content_length, 0u);
    EXPECT_TRUE(r.ended);
}

TEST_F(Exchange, AGrpcRequestWithoutARouteIsUnimplemented) {
    load(k_routes);
    auto r = serve({.method = "POST", .path = "/pkg.Svc/Method", .fields = {{"Content-Type", "application/grpc+proto"}}});
    ASSERT_TRUE(r);
    expect_trailers_only(*r, "12");
    EXPECT_EQ(r->field("grpc-message"), "no route matches the request");
    EXPECT_TRUE(r->field("x-request-id"));
}

TEST_F(Exchange, MiddlewareDenialsOfGrpcRequestsAreGrpcStatuses) {
    load(k_middleware);
    const std::pair<std::string, std::string> grpc_ct{"Content-Type", "application/grpc"};
    auto r = serve({.path = "/keyed", .fields = {grpc_ct}});
    ASSERT_TRUE(r);
    expect_trailers_only(*r, "16");  // UNAUTHENTICATED
    r = serve({.path = "/local", .fields = {grpc_ct}});
    ASSERT_TRUE(r);
    expect_trailers_only(*r, "7");  // PERMISSION_DENIED
    for (int i = 0; i < 2; ++i) serve({.path = "/limited", .fields = {grpc_ct}});
    r = serve({.path = "/limited", .fields = {grpc_ct}});
    ASSERT_TRUE(r);
    expect_trailers_only(*r, "8");  // RESOURCE_EXHAUSTED
    EXPECT_TRUE(r->field("retry-after"));
    // A gRPC-Web client gets the same fields in its own content-type.
    r = serve({.path = "/keyed", .fields = {{"Content-Type", "application/grpc-web-text"}}});
    ASSERT_TRUE(r);
    expect_trailers_only(*r, "16", "application/grpc-web-text+proto");
    // Any other request keeps the JSON shape.
    r = serve({.path = "/keyed", .fields = {{"Content-Type", "application/json"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
}

TEST_F(ExchangeProxy, AFailedGrpcCallIsUnavailable) {
    start("");
    up_->replies = {""};  // the connection closes unanswered: a 502
    EXPECT_TRUE(proxy({.method = "POST", .fields = {{"Content-Type", "application/grpc"}}}));
    ASSERT_TRUE(stream_.final);
    expect_trailers_only(*stream_.final, "14");
}

}  // namespace
