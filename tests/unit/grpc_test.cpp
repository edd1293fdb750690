// gRPC's protocol details gatehouse needs without a transport: status codes and their names,
// recognising gRPC requests, grpc-timeout, grpc-message and the HTTP → gRPC status mapping.
#include <gtest/gtest.h>

#include "grpc/content_type.hpp"
#include "grpc/message.hpp"
#include "grpc/status.hpp"
#include "grpc/timeout.hpp"

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
