#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "observability/access_log.hpp"
#include "observability/metrics.hpp"
#include "observability/trace_context.hpp"

using namespace gatehouse::observability;

TEST(TraceContext, ParsesValidVersion00) {
    trace_context t;
    ASSERT_TRUE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", t));
    EXPECT_EQ(std::string(t.trace_id, 32), "0af7651916cd43dd8448eb211c80319c");
    EXPECT_EQ(std::string(t.parent_id, 16), "b7ad6b7169203331");
    EXPECT_EQ(t.flags, 1);
}

TEST(TraceContext, RejectsInvalid) {
    trace_context t;
    EXPECT_FALSE(parse_traceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", t));        // upper case
    EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01", t));        // zero trace id
    EXPECT_FALSE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", t));        // zero parent
    EXPECT_FALSE(parse_traceparent("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", t));        // version ff
    EXPECT_FALSE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", t));  // 00 has 4 fields
    EXPECT_FALSE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", t));
    EXPECT_FALSE(parse_traceparent("garbage", t));
    // a later version may carry more fields
    EXPECT_TRUE(parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-whatever", t));
}

TEST(TraceContext, FormatRoundTrips) {
    trace_context t;
    ASSERT_TRUE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", t));
    char span[16];
    std::uint64_t seed = 42;
    random_hex(
        span, 16,
        [](void* s) {
            auto& x = *static_cast<std::uint64_t*>(s);
            x = x * 6364136223846793005ull + 1;
            return x;
        },
        &seed);
    std::string out;
    append_traceparent(out, t.trace_id, span, t.flags);
    trace_context back;
    ASSERT_TRUE(parse_traceparent(out, back));
    EXPECT_EQ(std::string(back.trace_id, 32), std::string(t.trace_id, 32));
    EXPECT_EQ(std::string(back.parent_id, 16), std::string(span, 16));
}

TEST(TraceContext, Hex16WritesEveryNibbleOnceAsALowerCaseDigit) {
    for (std::uint64_t r : {0ull, ~0ull, 0x0123456789abcdefull, 0xfedcba9876543210ull, 0x9a9a9a9a0f0f0f0full, 42ull}) {
        char out[16];
        hex16(r, out);
        std::string got(out, 16), want;
        for (int i = 0; i < 16; ++i) want += "0123456789abcdef"[(r >> (4 * i)) & 15];
        EXPECT_EQ(got, want) << std::hex << r;  // lowest nibble first
    }
    char id[32];
    std::uint64_t zero_then_one = 0;  // an all-zero draw is drawn again: ids are never all zeros
    random_hex(
        id, 32,
        [](void* s) -> std::uint64_t {
            auto& x = *static_cast<std::uint64_t*>(s);
            return x++ < 2 ? 0 : x;
        },
        &zero_then_one);
    EXPECT_NE(std::string(id, 32), std::string(32, '0'));
}

TEST(Labels, MethodsAndCodesAreBounded) {
    EXPECT_EQ(k_methods[method_slot("GET")], "GET");
    EXPECT_EQ(k_methods[method_slot("get")], "OTHER");
    EXPECT_EQ(k_methods[method_slot("PROPFIND")], "OTHER");
    EXPECT_EQ(code_label(code_slot(404)), "404");
    EXPECT_EQ(code_label(code_slot(299)), "2xx");
    EXPECT_EQ(code_label(code_slot(599)), "5xx");
    EXPECT_EQ(code_label(code_slot(0)), "5xx");
}

TEST(Metrics, ShardsAreSummedAtScrape) {
    metrics m(2);
    auto r = m.route("users");
    r->at(0).requests[0][method_slot("GET")][code_slot(200)].add(3);
    r->at(1).requests[0][method_slot("GET")][code_slot(200)].add(4);
    r->at(1).requests[protocol_slot("HTTP/2")][method_slot("GET")][code_slot(200)].add(2);
    r->at(1).duration.observe(2'000'000);  // 2 ms
    auto text = m.scrape();
    EXPECT_NE(text.find("gatehouse_http_requests_total{code=\"200\",method=\"GET\",protocol=\"HTTP/1.1\",route=\"users\"} 7"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("gatehouse_http_requests_total{code=\"200\",method=\"GET\",protocol=\"HTTP/2\",route=\"users\"} 2"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("gatehouse_http_request_duration_seconds_bucket{route=\"users\",le=\"0.0025\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("gatehouse_http_request_duration_seconds_bucket{route=\"users\",le=\"0.001\"} 0"), std::string::npos) << text;
    EXPECT_EQ(m.route("users"), r);  // same name, same counters (they survive reloads)
}

TEST(AccessLog, JsonLineHasTheFieldsAndEscapes) {
    request_log_entry e;
    e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
    e.request_id = "abc";
    e.method = "GET";
    e.path = "/a\"b\n";
    e.status = 200;
    e.duration_ms = 1.5;
    e.user_agent = "curl";
    std::vector<int> fields;
    for (std::size_t i = 0; i < gatehouse::config::access_log_field_names().size(); ++i) fields.push_back(static_cast<int>(i));
    std::string line;
    access_log::format(e, fields, true, line);
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(j["path"], "/a\"b\n");
    EXPECT_EQ(j["status"], 200);
    EXPECT_EQ(j["duration_ms"], 1.5);
    EXPECT_TRUE(j["upstream"].is_null());
    EXPECT_EQ(line.find('\n'), std::string::npos);
    access_log::format(e, {4, 6, 8}, false, line);
    EXPECT_EQ(line, "GET \"/a\\\"b\\u000a\" 200");
}
