// gRPC's protocol details gatehouse needs without a transport: status codes and their names,
// recognising gRPC requests, grpc-timeout, grpc-message and the HTTP → gRPC status mapping.
#include <gtest/gtest.h>

#include "grpc/content_type.hpp"
#include "grpc/message.hpp"
#include "grpc/status.hpp"
#include "grpc/timeout.hpp"
#include "grpc/web.hpp"
#include "util/base64.hpp"
#include "gatehouse/config/config.hpp"
#include "upstream/breaker.hpp"
#include "upstream/retry.hpp"

using namespace gatehouse::grpc;
using namespace std::chrono_literals;

TEST(GrpcStatus, NamesRoundTripForEveryCode) {
    for (int i = 0; i < k_status_count; ++i) {
        const auto c = static_cast<status_code>(i);
        EXPECT_EQ(from_config_name(config_name(c)), c);
        EXPECT_EQ(parse_status_field(status_field(c)), c);
    }
    EXPECT_EQ(canonical_name(status_code::resource_exhausted), "RESOURCE_EXHAUSTED");
    EXPECT_EQ(config_name(status_code::deadline_exceeded), "deadline_exceeded");
    EXPECT_EQ(status_field(status_code::unavailable), "14");
}

TEST(GrpcStatus, RejectsUnknownNamesAndMalformedFields) {
    EXPECT_FALSE(from_config_name("UNAVAILABLE"));
    EXPECT_FALSE(from_config_name("unavailable "));
    EXPECT_FALSE(from_config_name(""));
    EXPECT_FALSE(parse_status_field("17"));
    EXPECT_FALSE(parse_status_field("014"));
    EXPECT_FALSE(parse_status_field("01"));
    EXPECT_FALSE(parse_status_field("-1"));
    EXPECT_FALSE(parse_status_field(" 1"));
    EXPECT_FALSE(parse_status_field(""));
    EXPECT_EQ(parse_status_field("0"), status_code::ok);
}

TEST(GrpcStatus, MapsGatehouseAnswersAsTheIssueAndGrpcDocSay) {
    EXPECT_EQ(from_http_status(401), status_code::unauthenticated);
    EXPECT_EQ(from_http_status(403), status_code::permission_denied);
    EXPECT_EQ(from_http_status(429), status_code::resource_exhausted);
    EXPECT_EQ(from_http_status(503), status_code::unavailable);
    EXPECT_EQ(from_http_status(502), status_code::unavailable);
    EXPECT_EQ(from_http_status(504), status_code::deadline_exceeded);
    EXPECT_EQ(from_http_status(404), status_code::unimplemented);
    EXPECT_EQ(from_http_status(400), status_code::internal);
    EXPECT_EQ(from_http_status(500), status_code::unknown);
    EXPECT_EQ(from_http_status(418), status_code::unknown);
    EXPECT_EQ(from_http_status(200), status_code::ok);
}

TEST(GrpcContentType, RecognisesGrpcAndGrpcWebInBothModes) {
    EXPECT_EQ(classify_content_type("application/grpc"), protocol::grpc);
    EXPECT_EQ(classify_content_type("application/grpc+proto"), protocol::grpc);
    EXPECT_EQ(classify_content_type("Application/GRPC+json; charset=utf-8"), protocol::grpc);
    EXPECT_EQ(classify_content_type("application/grpc-web"), protocol::web);
    EXPECT_EQ(classify_content_type("application/grpc-web+proto"), protocol::web);
    EXPECT_EQ(classify_content_type("application/grpc-web-text"), protocol::web_text);
    EXPECT_EQ(classify_content_type("application/grpc-web-text+proto"), protocol::web_text);
}

TEST(GrpcContentType, RejectsLookAlikes) {
    EXPECT_EQ(classify_content_type("application/json"), protocol::none);
    EXPECT_EQ(classify_content_type("application/grpcx"), protocol::none);
    EXPECT_EQ(classify_content_type("application/grpc+"), protocol::none);
    EXPECT_EQ(classify_content_type("application/grpc-webx"), protocol::none);
    EXPECT_EQ(classify_content_type("application/grpc-web-textual"), protocol::none);
    EXPECT_EQ(classify_content_type("application/gr"), protocol::none);
    EXPECT_EQ(classify_content_type(""), protocol::none);
}

TEST(GrpcTimeout, ParsesEveryUnit) {
    EXPECT_EQ(parse_timeout("1H"), 3600s);
    EXPECT_EQ(parse_timeout("2M"), 120s);
    EXPECT_EQ(parse_timeout("3S"), 3s);
    EXPECT_EQ(parse_timeout("250m"), 250ms);
    EXPECT_EQ(parse_timeout("1500u"), 2ms);
    EXPECT_EQ(parse_timeout("2000000n"), 2ms);
    EXPECT_EQ(parse_timeout("1n"), 1ms);  // never zero: zero means no deadline
    EXPECT_EQ(parse_timeout("99999999H"), std::chrono::milliseconds{99999999LL * 3600000});
}

TEST(GrpcTimeout, RejectsMalformedValues) {
    EXPECT_FALSE(parse_timeout("123456789S"));  // nine digits
    EXPECT_FALSE(parse_timeout("S"));
    EXPECT_FALSE(parse_timeout("10"));
    EXPECT_FALSE(parse_timeout("10s"));  // seconds are upper case
    EXPECT_FALSE(parse_timeout("-1S"));
    EXPECT_FALSE(parse_timeout(" 1S"));
    EXPECT_FALSE(parse_timeout(""));
}

TEST(GrpcMessage, PercentEncodesAsProtocolHttp2Says) {
    EXPECT_EQ(encode_message("plain text ~!"), "plain text ~!");
    EXPECT_EQ(encode_message("100%"), "100%25");
    EXPECT_EQ(encode_message("a\r\nb"), "a%0D%0Ab");
    EXPECT_EQ(encode_message("\xe2\x82\xac"), "%E2%82%AC");  // "€" as UTF-8
    EXPECT_EQ(encode_message("\t\x7f"), "%09%7F");
}

TEST(GrpcMessage, DecodesAndKeepsBrokenEscapes) {
    const std::string special = "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n";
    EXPECT_EQ(decode_message(encode_message(special)), special);
    EXPECT_EQ(decode_message("%zz%4"), "%zz%4");
    EXPECT_EQ(decode_message("%4a"), "J");
}

// Policies know gRPC: retry `on:` and breaker `failure:` take gRPC status names and match the
// status of a Trailers-Only answer.
namespace {

gatehouse::config::load_result load_policies(const std::string& route_extra, const std::string& upstream_extra) {
    const std::string y = "listeners: [{ name: p, listen: 127.0.0.1:8080 }]\nroutes:\n  - name: r\n    upstream: u\n" +
                          route_extra + "upstreams:\n  - name: u\n    discovery: { static: [127.0.0.1:1] }\n" + upstream_extra;
    return gatehouse::config::load_string(y, "grpc.yaml");
}

}  // namespace

TEST(GrpcPolicies, RetryAndBreakerTakeGrpcStatusNames) {
    auto r = load_policies("    retry: { on: [unavailable, resource_exhausted, 503] }\n",
                           "    circuit_breaker: { failure: [deadline_exceeded, connect_failure] }\n");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    const auto& on = r.config->routes[0].retry->on;
    EXPECT_TRUE(on.has_grpc_status(14));
    EXPECT_TRUE(on.has_grpc_status(8));
    EXPECT_FALSE(on.has_grpc_status(4));
    EXPECT_TRUE(on.has_status(503));
    const auto& failure = r.config->upstreams[0].circuit_breaker->failure;
    EXPECT_TRUE(failure.has_grpc_status(4));
    EXPECT_FALSE(failure.has_grpc_status(14));
}

TEST(GrpcPolicies, TheDefaultBreakerCountsUnavailable) {
    auto r = load_policies("", "    circuit_breaker: { failure_rate: 50% }\n");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    const auto& failure = r.config->upstreams[0].circuit_breaker->failure;
    EXPECT_TRUE(failure.has_grpc_status(14));
    EXPECT_FALSE(failure.has_grpc_status(5));
    EXPECT_TRUE(gatehouse::upstream::names_grpc_statuses(failure));
}

TEST(GrpcPolicies, MisspelledOrPointlessNamesAreRefusedWithTheirPlace) {
    auto r = load_policies("    retry: { on: [unavailible] }\n", "");
    EXPECT_FALSE(r.config);
    const auto text = r.diags.to_string();
    EXPECT_NE(text.find("grpc.yaml:5"), std::string::npos) << text;
    EXPECT_NE(text.find("did you mean 'unavailable'"), std::string::npos) << text;
    r = load_policies("", "    circuit_breaker: { failure: [ok] }\n");  // a success is never a failure
    EXPECT_FALSE(r.config);
    r = load_policies("", "    circuit_breaker: { failure: [UNAVAILABLE] }\n");  // the config's spelling only
    EXPECT_FALSE(r.config);
}

TEST(GrpcPolicies, OutcomesMatchTheGrpcStatusOfTheHead) {
    using gatehouse::upstream::attempt_outcome;
    using gatehouse::upstream::failure;
    gatehouse::config::outcome_set on;
    on.grpc_statuses = 1u << 14;
    EXPECT_TRUE(gatehouse::upstream::matches(on, attempt_outcome{failure::none, 200, 14}));
    EXPECT_FALSE(gatehouse::upstream::matches(on, attempt_outcome{failure::none, 200, 8}));
    EXPECT_FALSE(gatehouse::upstream::matches(on, attempt_outcome{failure::none, 200, -1}));
    EXPECT_FALSE(gatehouse::upstream::matches(on, attempt_outcome{failure::none, 200}));
    on.any_5xx = true;  // kinds, statuses and gRPC statuses together
    EXPECT_TRUE(gatehouse::upstream::matches(on, attempt_outcome{failure::none, 503}));
}

TEST(GrpcPolicies, TheStatusIsReadFromAHeadsFields) {
    std::vector<gatehouse::http::field> head = {{"content-type", "application/grpc"}, {"Grpc-Status", "14"}, {"grpc-message", "down"}};
    EXPECT_EQ(status_in(head), 14);
    head[1].value = "99";
    EXPECT_EQ(status_in(head), 2);  // no status: UNKNOWN
    head.erase(head.begin() + 1);
    EXPECT_EQ(status_in(head), -1);
}

TEST(GrpcPolicies, ABreakerOpensOnUnavailableAnswers) {
    gatehouse::config::breaker_config c;
    c.min_requests = 2;
    c.failure_rate = 0.5;
    c.failure.grpc_statuses = 1u << 14;
    gatehouse::upstream::circuit_breaker b(c);
    const auto t = gatehouse::upstream::circuit_breaker::time_point(1000s);
    using gatehouse::upstream::attempt_outcome;
    using gatehouse::upstream::failure;
    const attempt_outcome unavailable{failure::none, 200, 14};
    const attempt_outcome ok{failure::none, 200, 0};
    b.record(t, gatehouse::upstream::matches(b.config().failure, ok), false);
    EXPECT_EQ(b.state(), gatehouse::upstream::breaker_state::closed);
    b.record(t, gatehouse::upstream::matches(b.config().failure, unavailable), false);
    EXPECT_EQ(b.state(), gatehouse::upstream::breaker_state::open);
}

// gRPC-Web's byte transformations (PROTOCOL-WEB.md), checked against util::base64 (an
// implementation of its own) at every split of the input.
namespace {

std::string frame(std::string_view message, char flag = 0) {
    std::string f(1, flag);
    const auto n = static_cast<std::uint32_t>(message.size());
    for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>(n >> shift & 0xff);
    return f + std::string(message);
}

}  // namespace

TEST(GrpcWeb, TextRequestsDecodeAcrossEverySplit) {
    const std::string body = frame("hello") + frame(std::string("\0\xff\x10 binary", 10));
    const std::string encoded = gatehouse::util::base64_encode(body);
    for (std::size_t cut = 0; cut <= encoded.size(); ++cut) {
        web_request_decoder d(true);
        std::string out;
        ASSERT_TRUE(d.feed(std::string_view(encoded).substr(0, cut), out));
        ASSERT_TRUE(d.feed(std::string_view(encoded).substr(cut), out));
        EXPECT_TRUE(d.complete());
        EXPECT_EQ(out, body) << "cut at " << cut;
    }
}

TEST(GrpcWeb, ConcatenatedPaddedChunksDecodeAndGarbageDoesNot) {
    web_request_decoder d(true);
    std::string out;
    const std::string a = frame("a"), b = frame("bc");  // 6 and 7 bytes: both padded
    ASSERT_TRUE(d.feed(gatehouse::util::base64_encode(a) + gatehouse::util::base64_encode(b), out));
    EXPECT_EQ(out, a + b);
    web_request_decoder bad(true);
    EXPECT_FALSE(bad.feed("ab*d", out));
    web_request_decoder early_pad(true);
    EXPECT_FALSE(early_pad.feed("a===", out));
    web_request_decoder data_after_pad(true);
    EXPECT_FALSE(data_after_pad.feed("ab=c", out));
    web_request_decoder partial(true);
    EXPECT_TRUE(partial.feed("YWJ", out));
    EXPECT_FALSE(partial.complete());
    web_request_decoder binary(false);
    out.clear();
    EXPECT_TRUE(binary.feed("as it is", out));
    EXPECT_EQ(out, "as it is");
}

TEST(GrpcWeb, TheTrailersBecomeTheFinalFrame) {
    web_response_encoder e(false);
    std::string out;
    e.data(frame("reply"), out);
    std::vector<gatehouse::http::field> trailers = {{"Grpc-Status", "0"}, {"grpc-message", "fine"}};
    e.end(trailers, out);
    EXPECT_EQ(out, frame("reply") + frame("grpc-status:0\r\ngrpc-message:fine\r\n", '\x80'));
}

TEST(GrpcWeb, TextResponsesEncodeInWholeGroupsAcrossPieces) {
    const std::string body = frame("one") + frame("streamed message two");
    std::vector<gatehouse::http::field> trailers = {{"grpc-status", "0"}};
    const std::string whole = body + frame("grpc-status:0\r\n", '\x80');
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        web_response_encoder e(true);
        std::string out;
        e.data(std::string_view(body).substr(0, cut), out);
        EXPECT_EQ(out.size() % 4, 0u);  // only whole groups go out before the end
        e.data(std::string_view(body).substr(cut), out);
        e.end(trailers, out);
        EXPECT_EQ(gatehouse::util::base64_decode(out), whole) << "cut at " << cut;
    }
}
