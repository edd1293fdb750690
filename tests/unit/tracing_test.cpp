// Tracing: the span ring, sampling, the OTLP encodings (protobuf read back field by field with a
// minimal wire-format reader of the test's own; JSON through nlohmann::json) and its config.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <nlohmann/json.hpp>

#include "gatehouse/config/config.hpp"
#include "observability/otlp_encode.hpp"
#include "observability/call_spans.hpp"
#include "observability/tracing.hpp"

using namespace gatehouse;
using observability::span_kind;
using observability::span_record;
using observability::span_ring;

namespace {

span_record sample_span(span_kind kind) {
    span_record s;
    std::memcpy(s.trace_id, "0af7651916cd43dd8448eb211c80319c", 32);
    std::memcpy(s.span_id, "b7ad6b7169203331", 16);
    std::memcpy(s.parent_id, "00f067aa0ba902b7", 16);
    s.has_parent = true;
    s.kind = kind;
    s.start_ns = 1'700'000'000'123'456'789ULL;
    s.end_ns = s.start_ns + 1500;
    s.method = "GET";
    s.route = "users";
    s.url_path = "/users/7";
    s.url_query = "a=1";
    s.url_scheme = "http";
    s.server_address = "api.example.com";
    s.server_port = 8080;
    s.client_address = "10.0.0.1";
    s.status_code = 503;
    s.error = true;
    s.error_type = "503";
    return s;
}

// Protobuf wire format, just enough to check what the encoder wrote.
struct pb_field {
    unsigned number, wire;
    std::uint64_t value;     // varint / fixed
    std::string_view bytes;  // length-delimited
};

std::uint64_t read_varint(std::string_view& in) {
    std::uint64_t v = 0;
    for (int shift = 0; !in.empty(); shift += 7) {
        auto b = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    ADD_FAILURE() << "truncated varint";
    return v;
}

std::multimap<unsigned, pb_field> parse(std::string_view in) {
    std::multimap<unsigned, pb_field> out;
    while (!in.empty()) {
        auto key = read_varint(in);
        pb_field f{static_cast<unsigned>(key >> 3), static_cast<unsigned>(key & 7), 0, {}};
        if (f.wire == 0) f.value = read_varint(in);
        else if (f.wire == 1 || f.wire == 5) {
            const int n = f.wire == 1 ? 8 : 4;
            for (int i = 0; i < n; ++i) f.value |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
            in.remove_prefix(n);
        } else if (f.wire == 2) {
            auto len = read_varint(in);
            f.bytes = in.substr(0, len);
            in.remove_prefix(len);
        } else {
            ADD_FAILURE() << "wire type " << f.wire;
            return out;
        }
        out.emplace(f.number, f);
    }
    return out;
}

const pb_field& one(const std::multimap<unsigned, pb_field>& m, unsigned n) {
    EXPECT_EQ(m.count(n), 1u) << "field " << n;
    return m.find(n)->second;
}

// Span.attributes as key → (AnyValue field number, text or integer).
std::map<std::string, std::pair<unsigned, std::string>> attributes(const std::multimap<unsigned, pb_field>& span, unsigned field) {
    std::map<std::string, std::pair<unsigned, std::string>> out;
    for (auto [it, end] = span.equal_range(field); it != end; ++it) {
        auto kv = parse(it->second.bytes);
        auto any = parse(one(kv, 2).bytes);
        auto& v = any.begin()->second;
        out[std::string(one(kv, 1).bytes)] = {v.number, v.wire == 2 ? std::string(v.bytes) : std::to_string(v.value)};
    }
    return out;
}

}  // namespace

TEST(SpanRing, KeepsOrderDropsWhenFullAndCountsTheDrops) {
    span_ring ring(3);
    span_record r;
    for (int i = 0; i < 5; ++i) {
        r.status_code = 200 + i;
        EXPECT_EQ(ring.push(r), i < 3) << i;
    }
    EXPECT_EQ(ring.dropped(), 2u);
    ASSERT_EQ(ring.available(), 3u);
    EXPECT_EQ(ring.at(0).status_code, 200);
    EXPECT_EQ(ring.at(2).status_code, 202);
    ring.release(2);
    ASSERT_EQ(ring.available(), 1u);
    EXPECT_EQ(ring.at(0).status_code, 202);
    r.status_code = 299;
    EXPECT_TRUE(ring.push(r));  // room again once the consumer released slots
    EXPECT_TRUE(ring.push(r));
    EXPECT_FALSE(ring.push(r));
    EXPECT_EQ(ring.at(2).status_code, 299);
    EXPECT_EQ(ring.dropped(), 3u);
}

TEST(SpanRing, OneProducerOneConsumerLoseNothingBelowCapacity) {
    span_ring ring(64);
    std::atomic<bool> done{false};
    std::uint64_t received = 0, sum = 0;
    std::thread consumer([&] {
        for (;;) {
            const bool finished = done.load();  // before looking: what was pushed before `done` is seen
            auto n = ring.available();
            for (std::size_t i = 0; i < n; ++i) sum += static_cast<std::uint64_t>(ring.at(i).status_code);
            ring.release(n);
            received += n;
            if (n == 0 && finished) break;
        }
    });
    span_record r;
    std::uint64_t pushed = 0, expected = 0;
    for (int i = 0; i < 100000; ++i) {
        r.status_code = i % 1000;
        if (ring.push(r)) {
            ++pushed;
            expected += static_cast<std::uint64_t>(r.status_code);
        }
    }
    done = true;
    consumer.join();
    EXPECT_EQ(received, pushed);
    EXPECT_EQ(sum, expected);
    EXPECT_EQ(pushed + ring.dropped(), 100000u);
}

TEST(Sampling, RatioOfNewTraces) {
    std::uint64_t x = 42;
    auto next = [&x] {  // splitmix64
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    };
    int zero = 0, all = 0, tenth = 0;
    for (int i = 0; i < 100000; ++i) {
        auto r = next();
        zero += observability::sample_new_trace(0.0, r);
        all += observability::sample_new_trace(1.0, r);
        tenth += observability::sample_new_trace(0.1, r);
    }
    EXPECT_EQ(zero, 0);
    EXPECT_EQ(all, 100000);
    EXPECT_NEAR(tenth, 10000, 400);
    EXPECT_TRUE(observability::sample_new_trace(1.0, 0));
    EXPECT_TRUE(observability::sample_new_trace(1.0, ~0ULL));
    EXPECT_FALSE(observability::sample_new_trace(0.5, ~0ULL));
}

TEST(ClientSpans, EachTryHasItsOwnIdAndTheRequestCarriesIt) {
    span_ring ring(8);
    std::string head = "GET / HTTP/1.1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    observability::client_spans c;
    c.record = sample_span(span_kind::client);
    c.ring = &ring;
    c.span_hex = head.data() + head.find("b7ad6b7169203331");
    std::uint64_t counter = 1;
    c.random = [](void* p) { return ++*static_cast<std::uint64_t*>(p); };
    c.random_state = &counter;
    c.begin_try();
    EXPECT_NE(head.find("-b7ad6b7169203331-"), std::string::npos);  // the first try: the id already sent
    c.end_try("connect", 0, "127.0.0.1:9");
    c.begin_try();
    c.end_try("", 200, "[::1]:8081");
    ASSERT_EQ(ring.available(), 2u);
    EXPECT_EQ(std::string_view(ring.at(0).span_id, 16), "b7ad6b7169203331");
    EXPECT_TRUE(ring.at(0).error);
    EXPECT_EQ(ring.at(0).error_type, "connect");
    EXPECT_EQ(ring.at(0).peer_port, 9);
    auto second = std::string_view(ring.at(1).span_id, 16);
    EXPECT_NE(second, "b7ad6b7169203331");
    EXPECT_NE(head.find("-" + std::string(second) + "-01"), std::string::npos) << head;
    EXPECT_FALSE(ring.at(1).error);
    EXPECT_EQ(ring.at(1).resend, 1);
    EXPECT_EQ(ring.at(1).peer_address, "::1");
    EXPECT_EQ(ring.at(1).peer_port, 8081);
    // The next request on the connection: its first try is a first try again.
    c.reset();
    std::memcpy(c.record.span_id, "1111111111111111", 16);
    c.begin_try();
    c.end_try("", 204, "127.0.0.1:80");
    EXPECT_EQ(std::string_view(ring.at(2).span_id, 16), "1111111111111111");
    EXPECT_EQ(ring.at(2).resend, 0);
}

TEST(OtlpProtobuf, VarintsAsTheSpecificationWritesThem) {
    std::string out;
    observability::append_varint(out, 1);
    observability::append_varint(out, 150);
    observability::append_varint(out, 300);
    EXPECT_EQ(out, std::string("\x01\x96\x01\xac\x02", 5));
}

TEST(OtlpProtobuf, RequestCarriesResourceScopeAndSpanFieldsByNumber) {
    auto server = sample_span(span_kind::server);
    auto client = sample_span(span_kind::client);
    client.status_code = 200;
    client.error = false;
    client.error_type.clear();
    client.peer_address = "127.0.0.1";
    client.peer_port = 9001;
    const span_record* spans[] = {&server, &client};
    std::string body;
    observability::encode_otlp_protobuf(spans, {{"service.name", "gatehouse"}}, body);

    auto request = parse(body);
    auto rs = parse(one(request, 1).bytes);  // ExportTraceServiceRequest.resource_spans
    auto resource = parse(one(rs, 1).bytes);
    auto res_attrs = attributes(resource, 1);
    EXPECT_EQ(res_attrs["service.name"], (std::pair<unsigned, std::string>{1, "gatehouse"}));
    auto ss = parse(one(rs, 2).bytes);  // ScopeSpans
    EXPECT_EQ(one(parse(one(ss, 1).bytes), 1).bytes, "gatehouse");
    ASSERT_EQ(ss.count(2), 2u);
    auto span = parse(ss.find(2)->second.bytes);
    EXPECT_EQ(one(span, 1).bytes, std::string_view("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16));
    EXPECT_EQ(one(span, 2).bytes, std::string_view("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
    EXPECT_EQ(one(span, 4).bytes, std::string_view("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
    EXPECT_EQ(one(span, 5).bytes, "GET users");
    EXPECT_EQ(one(span, 6).value, 2u);  // SPAN_KIND_SERVER
    EXPECT_EQ(one(span, 7).wire, 1u);   // fixed64
    EXPECT_EQ(one(span, 7).value, server.start_ns);
    EXPECT_EQ(one(span, 8).value, server.end_ns);
    auto attrs = attributes(span, 9);
    EXPECT_EQ(attrs["http.request.method"].second, "GET");
    EXPECT_EQ(attrs["http.route"].second, "users");
    EXPECT_EQ(attrs["url.path"].second, "/users/7");
    EXPECT_EQ(attrs["url.query"].second, "a=1");
    EXPECT_EQ(attrs["server.port"], (std::pair<unsigned, std::string>{3, "8080"}));  // int_value
    EXPECT_EQ(attrs["http.response.status_code"], (std::pair<unsigned, std::string>{3, "503"}));
    EXPECT_EQ(attrs["error.type"].second, "503");
    auto status = parse(one(span, 15).bytes);
    EXPECT_EQ(one(status, 3).value, 2u);  // STATUS_CODE_ERROR
    EXPECT_EQ(one(span, 16).wire, 5u);    // flags: fixed32

    auto cspan = parse(std::next(ss.find(2))->second.bytes);
    EXPECT_EQ(one(cspan, 5).bytes, "GET");
    EXPECT_EQ(one(cspan, 6).value, 3u);  // SPAN_KIND_CLIENT
    EXPECT_EQ(cspan.count(15), 0u);      // status unset
    auto cattrs = attributes(cspan, 9);
    EXPECT_EQ(cattrs["network.peer.address"].second, "127.0.0.1");
    EXPECT_EQ(cattrs["network.peer.port"].second, "9001");
    EXPECT_EQ(cattrs.count("url.path"), 0u);
}

TEST(OtlpJson, HexIdsCamelCaseAndIntegersAsStrings) {
    auto server = sample_span(span_kind::server);
    server.url_query = "q=\"x\"";
    const span_record* spans[] = {&server};
    std::string body;
    observability::encode_otlp_json(spans, {{"deployment.environment", "prod"}}, body);
    auto j = nlohmann::json::parse(body);
    auto& rs = j["resourceSpans"][0];
    EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "deployment.environment");
    EXPECT_EQ(rs["resource"]["attributes"][0]["value"]["stringValue"], "prod");
    auto& span = rs["scopeSpans"][0]["spans"][0];
    EXPECT_EQ(rs["scopeSpans"][0]["scope"]["name"], "gatehouse");
    EXPECT_EQ(span["traceId"], "0af7651916cd43dd8448eb211c80319c");
    EXPECT_EQ(span["spanId"], "b7ad6b7169203331");
    EXPECT_EQ(span["parentSpanId"], "00f067aa0ba902b7");
    EXPECT_EQ(span["kind"], 2);
    EXPECT_EQ(span["startTimeUnixNano"], "1700000000123456789");
    EXPECT_EQ(span["status"]["code"], 2);
    std::map<std::string, nlohmann::json> attrs;
    for (auto& a : span["attributes"]) attrs[a["key"]] = a["value"];
    EXPECT_EQ(attrs["http.response.status_code"]["intValue"], "503");
    EXPECT_EQ(attrs["url.query"]["stringValue"], "q=\"x\"");
}

namespace {
const char* k_tracing_yaml = R"(
listeners: [{ name: public, listen: 127.0.0.1:8080 }]
routes: [{ name: r, match: { path: /x }, respond: { status: 200 } }]
tracing:
  sample: 10%
  otlp:
    endpoint: ENDPOINT
    encoding: ENCODING
    headers: { authorization: "Bearer ${GATEHOUSE_TEST_OTLP_TOKEN}" }
    timeout: 2s
    batch: { max_queue: 100, max_batch: 10, delay: 250ms }
    resource: { service.name: gatehouse, deployment.environment: prod }
)";
config::load_result load_tracing(const std::string& endpoint, const std::string& encoding = "protobuf") {
    std::string y = k_tracing_yaml;
    y.replace(y.find("ENDPOINT"), 8, endpoint);
    y.replace(y.find("ENCODING"), 8, encoding);
    return config::load_string(y, "t.yaml");
}
}  // namespace

TEST(TracingConfig, ReadsTheExporterAndResolvesEnvironmentReferences) {
    ::setenv("GATEHOUSE_TEST_OTLP_TOKEN", "s3cret", 1);
    auto r = load_tracing("http://otel-collector:4318/v1/traces");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    const auto& t = r.config->tracing;
    EXPECT_DOUBLE_EQ(t.sample, 0.1);
    ASSERT_TRUE(t.otlp);
    EXPECT_EQ(t.otlp->host, "otel-collector");
    EXPECT_EQ(t.otlp->port, "4318");
    EXPECT_EQ(t.otlp->target, "/v1/traces");
    ASSERT_EQ(t.otlp->headers.size(), 1u);
    EXPECT_EQ(t.otlp->headers[0].second, "Bearer s3cret");
    EXPECT_EQ(t.otlp->max_queue, 100u);
    EXPECT_EQ(t.otlp->max_batch, 10u);
    EXPECT_EQ(t.otlp->delay, std::chrono::milliseconds(250));
    EXPECT_EQ(t.otlp->timeout, std::chrono::seconds(2));
    ASSERT_EQ(t.otlp->resource.size(), 2u);
    EXPECT_EQ(t.otlp->resource[1].first, "deployment.environment");
}

TEST(TracingConfig, HttpsEndpointWithItsTlsKeys) {
    ::setenv("GATEHOUSE_TEST_OTLP_TOKEN", "x", 1);
    auto r = load_tracing("https://collector.example.com/v1/traces\n    tls: { sni: otel.internal }");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    const auto& o = *r.config->tracing.otlp;
    EXPECT_TRUE(o.https);
    EXPECT_EQ(o.host, "collector.example.com");
    EXPECT_EQ(o.port, "443");  // the https default
    EXPECT_EQ(o.tls_sni, "otel.internal");
    EXPECT_EQ(o.tls_ca, "");  // the system store
    r = load_tracing("https://collector:4318\n    tls: { ca: /nonexistent/ca.pem, verify: false }");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("tracing.otlp.tls.ca: cannot read '/nonexistent/ca.pem'"), std::string::npos)
        << r.diags.to_string();
    EXPECT_NE(r.diags.to_string().find("unknown key 'verify'"), std::string::npos) << r.diags.to_string();
    r = load_tracing("http://collector:4318\n    tls: { sni: x }");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("tracing.otlp.tls: tls applies to an https:// endpoint only"), std::string::npos)
        << r.diags.to_string();
}

TEST(TracingConfig, UnsetVariableSchemeAndBadEncodingAreErrorsWithPositions) {
    ::unsetenv("GATEHOUSE_TEST_OTLP_TOKEN");
    auto r = load_tracing("http://127.0.0.1:4318/v1/traces");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find(
                  "t.yaml:9:31: tracing.otlp.headers.authorization: environment variable 'GATEHOUSE_TEST_OTLP_TOKEN' is not set"),
              std::string::npos)
        << r.diags.to_string();
    ::setenv("GATEHOUSE_TEST_OTLP_TOKEN", "x", 1);
    r = load_tracing("grpc://collector:4317");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("t.yaml:7:15: tracing.otlp.endpoint: expected an http:// or https:// URL"), std::string::npos)
        << r.diags.to_string();
    r = load_tracing("http://collector:4318", "thrift");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("tracing.otlp.encoding: expected protobuf or json"), std::string::npos) << r.diags.to_string();
}

namespace {
std::uint64_t counting_random(void* state) { return ++*static_cast<std::uint64_t*>(state) * 0x9e3779b97f4a7c15ull; }
}  // namespace

TEST(MiddlewareCallSpans, ARedisCommandIsADatabaseClientSpanUnderTheServerSpan) {
    observability::tracer t(config::otlp_config{}, 2);
    observability::call_spans spans;
    const char trace[] = "0af7651916cd43dd8448eb211c80319c";
    const char parent[] = "b7ad6b7169203331";
    std::uint64_t rng = 0;
    const auto base = std::chrono::steady_clock::now();
    const std::uint64_t wall = 1'700'000'000'000'000'000ull;
    spans.arm({trace, parent, &t, 1, &counting_random, &rng, wall, base});
    middleware::client_call c;
    c.db_system = "redis";
    c.operation = "EVALSHA";
    c.server_address = "127.0.0.1";
    c.server_port = 6379;
    c.error_type = "NOSCRIPT";
    c.start = base + std::chrono::milliseconds(1);
    c.end = base + std::chrono::milliseconds(3);
    spans.record(c);
    ASSERT_EQ(t.ring(1).available(), 1u);  // the request's worker's ring
    EXPECT_EQ(t.ring(0).available(), 0u);
    const auto& r = t.ring(1).at(0);
    EXPECT_EQ(std::string_view(r.trace_id, 32), trace);
    EXPECT_EQ(std::string_view(r.parent_id, 16), parent);
    EXPECT_TRUE(r.has_parent);
    EXPECT_EQ(r.start_ns, wall + 1'000'000);
    EXPECT_EQ(r.end_ns, wall + 3'000'000);

    const span_record* batch[] = {&r};
    std::string body;
    observability::encode_otlp_json(batch, {}, body);
    auto span = nlohmann::json::parse(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    EXPECT_EQ(span["name"], "EVALSHA");
    EXPECT_EQ(span["kind"], 3);
    EXPECT_EQ(span["status"]["code"], 2);
    std::map<std::string, nlohmann::json> attrs;
    for (auto& a : span["attributes"]) attrs[a["key"]] = a["value"];
    EXPECT_EQ(attrs["db.system.name"]["stringValue"], "redis");
    EXPECT_EQ(attrs["db.operation.name"]["stringValue"], "EVALSHA");
    EXPECT_EQ(attrs["server.address"]["stringValue"], "127.0.0.1");
    EXPECT_EQ(attrs["server.port"]["intValue"], "6379");
    EXPECT_EQ(attrs["error.type"]["stringValue"], "NOSCRIPT");
    EXPECT_EQ(attrs.count("http.request.method"), 0u);
}

TEST(MiddlewareCallSpans, ADetachedCallGoesToTheControlRingUnderTheSameParent) {
    auto t = std::make_shared<observability::tracer>(config::otlp_config{}, 2);
    observability::call_spans spans;
    const char trace[] = "0af7651916cd43dd8448eb211c80319c";
    const char parent[] = "b7ad6b7169203331";
    std::uint64_t rng = 0;
    spans.arm({trace, parent, t.get(), 0, &counting_random, &rng, observability::unix_now_ns(), std::chrono::steady_clock::now()});
    auto record = spans.detach();
    middleware::client_call c;
    c.operation = "GET";
    c.url = "https://idp.example.com/jwks.json";
    c.server_address = "idp.example.com";
    c.server_port = 443;
    c.status = 200;
    c.end = std::chrono::steady_clock::now();
    c.start = c.end - std::chrono::milliseconds(5);
    record(c);
    EXPECT_EQ(t->ring(0).available() + t->ring(1).available(), 0u);
    ASSERT_EQ(t->control_ring().available(), 1u);
    const auto& r = t->control_ring().at(0);
    EXPECT_EQ(std::string_view(r.parent_id, 16), parent);
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.url_full, "https://idp.example.com/jwks.json");
    EXPECT_EQ(r.end_ns - r.start_ns, 5'000'000u);
    EXPECT_FALSE(r.error);
}

TEST(MiddlewareCallSpans, ABackgroundCallIsARootSpanOnlyWhenTheRuleForNewTracesSamplesIt) {
    auto t = std::make_shared<observability::tracer>(config::otlp_config{}, 1);
    observability::set_background_tracing(t, false, 1.0);  // generate: false: only clients start traces
    EXPECT_FALSE(observability::background_recorder());
    observability::set_background_tracing(t, true, 0.0);  // sample: 0%
    EXPECT_FALSE(observability::background_recorder());
    observability::set_background_tracing(nullptr, true, 1.0);  // no export configured
    EXPECT_FALSE(observability::background_recorder());
    observability::set_background_tracing(t, true, 1.0);
    auto record = observability::background_recorder();
    ASSERT_TRUE(record);
    middleware::client_call c;
    c.operation = "GET";
    c.start = c.end = std::chrono::steady_clock::now();
    record(c);
    ASSERT_EQ(t->control_ring().available(), 1u);
    EXPECT_FALSE(t->control_ring().at(0).has_parent);  // the root of a trace of its own
    observability::set_background_tracing(nullptr, false, 0.0);
}
