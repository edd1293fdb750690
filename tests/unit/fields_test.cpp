// Protocol-neutral fields (include/gatehouse/http/fields.hpp) and the chunked decoder's
// trailers (src/http1/body_decoder.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gatehouse/http/fields.hpp"
#include "http1/body_decoder.hpp"
#include "http1/head.hpp"

using namespace gatehouse;

TEST(FieldList, SeesTheScannersRecordsAsFields) {
    std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-One:  1 \r\nx-two: 2\r\n\r\n";
    http1::request_head req;
    ASSERT_FALSE(http1::scan_request(head, {}, req));
    http::field_list list = req.fields;
    ASSERT_EQ(list.size(), 3u);
    std::vector<std::string> seen;
    for (auto& f : list) seen.push_back(std::string(f.name) + "=" + std::string(f.value));
    EXPECT_EQ(seen, (std::vector<std::string>{"Host=a", "X-One=1", "x-two=2"}));
    EXPECT_EQ(list.find("X-TWO"), "2");
    EXPECT_EQ(list[1].value, "1");
    EXPECT_FALSE(list.find("x-three"));
}

TEST(FieldList, PlainFieldsAndEmpty) {
    std::vector<http::field> plain{{"A", "1"}, {"b", "2"}};
    http::field_list list = plain;
    EXPECT_EQ(list.find("B"), "2");
    http::field_list none;
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.begin(), none.end());
}

namespace {

struct decoded {
    boost::beast::error_code ec;
    bool done = false, too_large = false, invalid = false;
    std::string body, trailers;
};

// A chunked request body after a head that says so, fed in one piece.
decoded decode(std::string_view chunked, std::size_t max_fields = 100, std::size_t max_bytes = 8192) {
    decoded out;
    http1::body_decoder<true> dec;
    dec.sink = &out.body;
    dec.trailer_limits(max_fields, max_bytes);
    std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    dec.feed(head, out.ec);
    dec.eager(true);
    std::string body(chunked);
    dec.feed(body, out.ec);
    out.done = dec.is_done();
    out.too_large = dec.trailer_too_large;
    out.invalid = dec.trailer_invalid;
    out.trailers = std::string(dec.trailer_lines());
    return out;
}

}  // namespace

TEST(Trailers, KeptValidatedAndWithoutForbiddenFields) {
    auto d = decode("5\r\nhello\r\n0\r\nX-Checksum: abc\r\nContent-Type: text/evil\r\nTrailer: x\r\nX-Two:  2 \r\n\r\n");
    EXPECT_FALSE(d.ec) << d.ec.message();
    EXPECT_TRUE(d.done);
    EXPECT_EQ(d.body, "hello");
    EXPECT_EQ(d.trailers, "X-Checksum: abc\r\nX-Two: 2\r\n");
}

TEST(Trailers, RefusedAsHeaderFieldsWouldBe) {
    EXPECT_TRUE(decode("0\r\nX-A: a\r\n b\r\n\r\n").ec);      // obs-fold (Beast would join it)
    EXPECT_TRUE(decode("0\r\nBad_Name: x\r\n\r\n").invalid);  // '_' in a request field name
    EXPECT_TRUE(decode("0\r\nX-A: a\x7f b\r\n\r\n").ec);      // DEL
    std::string many = "0\r\n";
    for (int i = 0; i < 5; ++i) many += "X-T" + std::to_string(i) + ": v\r\n";
    EXPECT_TRUE(decode(many + "\r\n", 4).too_large);
    EXPECT_FALSE(decode(many + "\r\n", 5).too_large);
    EXPECT_TRUE(decode("0\r\nX-Big: " + std::string(200, 'v') + "\r\n\r\n", 100, 100).too_large);
}

TEST(Trailers, ForbiddenNames) {
    for (auto n : {"Content-Length", "transfer-encoding", "HOST", "te", "Trailer", "connection", "Content-Encoding"})
        EXPECT_TRUE(http1::is_forbidden_trailer(n)) << n;
    for (auto n : {"grpc-status", "X-Checksum", "Server-Timing"}) EXPECT_FALSE(http1::is_forbidden_trailer(n)) << n;
}

// HTTP/2 request field names (stream::add_field): a token, no '_' (as field_name_problem for
// requests), no upper-case letter (RFC 9113 §8.2.1), in one table pass; the table's new bit
// leaves field_name_problem's answers as they were.
TEST(FieldNames, Http2RequestNamesAreLowerCaseTokensWithoutUnderscores) {
    for (const char* ok : {"x-a", "content-type", "te", "grpc-timeout", "a1!#$%&'*+-.^`|~"}) EXPECT_TRUE(http::valid_h2_request_name(ok)) << ok;
    for (const char* bad : {"", "X-A", "x-A", "content-Type", "x_a", "x a", "x:a", "x\xc3\xa9", "@"})
        EXPECT_FALSE(http::valid_h2_request_name(bad)) << bad;
    EXPECT_EQ(http::field_name_problem("X-Upper", true), nullptr);  // HTTP/1 names keep any case
    EXPECT_NE(http::field_name_problem("x_a", true), nullptr);
    EXPECT_EQ(http::field_name_problem("x_a", false), nullptr);
}
