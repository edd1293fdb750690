#include <gtest/gtest.h>

#include "http1/head.hpp"

using namespace gatehouse::http1;

namespace {

int status_of(const std::string& head, request_head* out = nullptr) {
    request_head h;
    scan_limits lim;
    lim.max_headers = 100;
    lim.max_request_line = 8192;
    auto e = scan_request(head, lim, out ? *out : h);
    return e ? e.status : 0;
}

std::string req(const std::string& fields, const std::string& line = "GET / HTTP/1.1") { return line + "\r\n" + fields + "\r\n"; }

}  // namespace

TEST(HeadScanner, AcceptsAPlainRequest) {
    request_head h;
    const std::string head = req("Host: a.example\r\nUser-Agent: t\r\n", "GET /p?q=1 HTTP/1.1");  // views point into it
    EXPECT_EQ(status_of(head, &h), 0);
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.path, "/p");
    EXPECT_EQ(h.query, "q=1");
    EXPECT_EQ(h.host, "a.example");
    EXPECT_EQ(h.fields.size(), 2u);
    EXPECT_TRUE(h.keep_alive);
    EXPECT_EQ(h.framing, body_framing::none);
}

TEST(HeadScanner, Framing) {
    request_head h;
    EXPECT_EQ(status_of(req("Host: a\r\nContent-Length: 5\r\n", "POST / HTTP/1.1"), &h), 0);
    EXPECT_EQ(h.framing, body_framing::content_length);
    EXPECT_EQ(h.content_length, 5u);
    EXPECT_EQ(status_of(req("Host: a\r\nTransfer-Encoding: Chunked \r\n", "POST / HTTP/1.1"), &h), 0);
    EXPECT_EQ(h.framing, body_framing::chunked);
    // Identical duplicates are accepted and forwarded as one.
    EXPECT_EQ(status_of(req("Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n", "POST / HTTP/1.1"), &h), 0);
    EXPECT_EQ(status_of(req("Host: a\r\nContent-Length: 5, 5\r\n", "POST / HTTP/1.1"), &h), 0);
    EXPECT_EQ(h.content_length, 5u);
}

struct bad_case {
    const char* name;
    std::string head;
    int status;
};

class Smuggling : public ::testing::TestWithParam<bad_case> {};

TEST_P(Smuggling, IsRejected) { EXPECT_EQ(status_of(GetParam().head), GetParam().status) << GetParam().name; }

INSTANTIATE_TEST_SUITE_P(
    EdgeCases, Smuggling,
    ::testing::Values(
        bad_case{"cl_then_te", req("Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_then_cl", req("Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_gzip_cl", req("Host: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_gzip", req("Host: a\r\nTransfer-Encoding: gzip\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_identity", req("Host: a\r\nTransfer-Encoding: identity\r\n", "POST / HTTP/1.1"), 501},
        bad_case{"te_chunked_gzip", req("Host: a\r\nTransfer-Encoding: chunked, gzip\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_gzip_chunked", req("Host: a\r\nTransfer-Encoding: gzip, chunked\r\n", "POST / HTTP/1.1"), 501},
        bad_case{"te_chunked_chunked", req("Host: a\r\nTransfer-Encoding: chunked, chunked\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"two_te_lines", req("Host: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"xchunked", req("Host: a\r\nTransfer-Encoding: xchunked\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"quoted_chunked", req("Host: a\r\nTransfer-Encoding: \"chunked\"\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"chunked_q", req("Host: a\r\nTransfer-Encoding: chunked;q=1\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"chunked_vt", req("Host: a\r\nTransfer-Encoding: chunked\x0b\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_space_colon", req("Host: a\r\nTransfer-Encoding : chunked\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"te_http10", req("Host: a\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.0"), 400},
        bad_case{"cl_differ", req("Host: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_list_differ", req("Host: a\r\nContent-Length: 5, 6\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_plus", req("Host: a\r\nContent-Length: +5\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_minus", req("Host: a\r\nContent-Length: -1\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_hex", req("Host: a\r\nContent-Length: 0x5\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_empty", req("Host: a\r\nContent-Length: \r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_space", req("Host: a\r\nContent-Length: 0 1\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"cl_huge", req("Host: a\r\nContent-Length: 18446744073709551616\r\n", "POST / HTTP/1.1"), 400},
        bad_case{"obs_fold", req("Host: a\r\nX: a\r\n b\r\n"), 400},
        bad_case{"fold_into_host", req("Host: a\r\n Transfer-Encoding: chunked\r\n"), 400},
        bad_case{"bare_lf", "GET / HTTP/1.1\nHost: a\n\r\n\r\n", 400}, bad_case{"bare_lf_field", req("Host: a\nX: y\r\n"), 400},
        bad_case{"bare_cr", req("Host: a\r\nX: a\rb\r\n"), 400}, bad_case{"nul", req(std::string("Host: a\r\nX: a") + '\0' + "b\r\n"), 400},
        bad_case{"ctl",
                 req("Host: a\r\nX: a\x01"
                     "b\r\n"),
                 400},
        bad_case{"del",
                 req("Host: a\r\nX: a\x7f"
                     "b\r\n"),
                 400},
        bad_case{"underscore", req("Host: a\r\nX_Forwarded_For: 1.2.3.4\r\n"), 400},
        bad_case{"bad_name", req("Host: a\r\nX[]: y\r\n"), 400}, bad_case{"empty_name", req("Host: a\r\n: y\r\n"), 400},
        bad_case{"no_host_11", req("X: y\r\n"), 400}, bad_case{"two_hosts", req("Host: a\r\nHost: a\r\n"), 400},
        bad_case{"host_slash", req("Host: a/b\r\n"), 400}, bad_case{"host_at", req("Host: u@a\r\n"), 400},
        bad_case{"host_dotdot", req("Host: a..b\r\n"), 400}, bad_case{"host_backslash", req("Host: a\\b\r\n"), 400},
        bad_case{"host_obs_text", req("Host: a\xc3\xa9\r\n"), 400},
        bad_case{"absolute_mismatch", req("Host: a\r\n", "GET http://evil.example/admin HTTP/1.1"), 400},
        bad_case{"asterisk_get", req("Host: a\r\n", "GET * HTTP/1.1"), 400},
        bad_case{"authority_form", req("Host: a\r\n", "GET host:80 HTTP/1.1"), 400},
        bad_case{"connect", req("Host: a\r\n", "CONNECT host:443 HTTP/1.1"), 405},
        bad_case{"fragment", req("Host: a\r\n", "GET /a#frag HTTP/1.1"), 400}, bad_case{"http2", req("Host: a\r\n", "GET / HTTP/2.0"), 505},
        bad_case{"http12", req("Host: a\r\n", "GET / HTTP/1.2"), 505}, bad_case{"http09", "GET /\r\n\r\n", 400},
        bad_case{"expect_other", req("Host: a\r\nExpect: foo\r\n"), 417},
        bad_case{"expect_params", req("Host: a\r\nExpect: 100-continue, x=y\r\n"), 417},
        bad_case{"long_line", req("Host: a\r\n", "GET /" + std::string(9000, 'a') + " HTTP/1.1"), 414}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(HeadScanner, TooManyFieldsIs431) {
    std::string f = "Host: a\r\n";
    for (int i = 0; i < 1500; ++i) f += "a: b\r\n";
    EXPECT_EQ(status_of(req(f)), 431);
}

TEST(HeadScanner, AbsoluteFormBecomesOriginForm) {
    request_head h;
    const std::string head = req("Host: a.example:8080\r\n", "GET http://A.example:8080/x?y=1 HTTP/1.1");
    EXPECT_EQ(status_of(head, &h), 0);
    EXPECT_EQ(h.path, "/x");
    EXPECT_EQ(h.query, "y=1");
}

TEST(HeadScanner, OptionsAsteriskAndHttp10) {
    request_head h;
    EXPECT_EQ(status_of(req("Host: a\r\n", "OPTIONS * HTTP/1.1"), &h), 0);
    EXPECT_TRUE(h.asterisk);
    EXPECT_EQ(status_of(req("", "GET / HTTP/1.0"), &h), 0);
    EXPECT_FALSE(h.keep_alive);
    EXPECT_EQ(status_of(req("Connection: keep-alive\r\n", "GET / HTTP/1.0"), &h), 0);
    EXPECT_TRUE(h.keep_alive);
    EXPECT_EQ(status_of(req("Host: a\r\nConnection: close\r\n"), &h), 0);
    EXPECT_FALSE(h.keep_alive);
}

TEST(HeadScanner, ExpectContinue) {
    request_head h;
    EXPECT_EQ(status_of(req("Host: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n", "PUT / HTTP/1.1"), &h), 0);
    EXPECT_TRUE(h.expect_continue);
    EXPECT_EQ(status_of(req("Expect: 100-continue\r\nContent-Length: 3\r\n", "PUT / HTTP/1.0"), &h), 0);
    EXPECT_FALSE(h.expect_continue);  // never a 100 to an HTTP/1.0 client
}

TEST(HeadScanner, ObsTextAllowedInOpaqueValues) { EXPECT_EQ(status_of(req("Host: a\r\nX-Name: caf\xc3\xa9\r\n")), 0); }

TEST(HeadScanner, FindHeadEnd) {
    std::string s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2";
    EXPECT_EQ(find_head_end(s, 0), 27u);
    EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n", 0), std::string_view::npos);
}

namespace {
int response_status(const std::string& head, bool head_request = false, response_head* out = nullptr) {
    response_head r;
    scan_limits lim;
    auto e = scan_response(head, lim, head_request, out ? *out : r);
    return e ? e.status : 0;
}
}  // namespace

TEST(ResponseScanner, FramingAndErrors) {
    response_head r;
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, &r), 0);
    EXPECT_EQ(r.framing, body_framing::content_length);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &r), 0);
    EXPECT_EQ(r.framing, body_framing::chunked);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\n\r\n", false, &r), 0);
    EXPECT_EQ(r.framing, body_framing::until_close);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, &r), 0);
    EXPECT_EQ(r.framing, body_framing::none);
    EXPECT_EQ(response_status("HTTP/1.1 304 Not Modified\r\n\r\n", false, &r), 0);
    EXPECT_EQ(r.framing, body_framing::none);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 502);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 502);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 502);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 502);
    EXPECT_EQ(response_status("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), 502);
    EXPECT_EQ(response_status("HTTP/1.1 2000 OK\r\n\r\n"), 502);
    EXPECT_EQ(response_status("HTTP/2 200 OK\r\n\r\n"), 502);
    std::string many = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 150; ++i) many += "X-H: v\r\n";
    EXPECT_EQ(response_status(many + "\r\n"), 502);
}

TEST(Lists, ConnectionNamesAnswerAsTheListDoes) {
    const std::string_view names[] = {"close", "keep-alive", "x-a", "X-B", "upgrade", "x-c", "x-d", "x-e", "x", "", "closed"};
    for (std::string_view list : {"", "Keep-Alive", " keep-alive ,, Close ", "x-a, X-B,upgrade", "x-a,x-b,x-c,x-d,x-e,x-f,x-g,close"}) {
        const connection_names c(list);  // the last one lists more names than it keeps
        for (auto n : names) EXPECT_EQ(c.contains(n), list_contains(list, n)) << "'" << list << "' / '" << n << "'";
    }
}

TEST(Lists, ContainsAndIdempotency) {
    EXPECT_TRUE(list_contains("keep-alive, Close", "close"));
    EXPECT_FALSE(list_contains("closed", "close"));
    EXPECT_TRUE(is_idempotent("GET"));
    EXPECT_TRUE(is_idempotent("PUT"));
    EXPECT_FALSE(is_idempotent("POST"));
    EXPECT_FALSE(is_idempotent("PATCH"));
}

// The field-line scan takes 16 bytes a step (SSE2) with a tail of its own: a byte no field line
// may hold is found at every position, across block edges and in the tail.
TEST(HeadScanner, ABadByteIsFoundWhereverItSits) {
    const std::string value(40, 'v');
    for (std::size_t pos = 0; pos < value.size(); ++pos) {
        for (char bad : {'\0', '\x01', '\x0b', '\r', '\n', '\x7f'}) {
            std::string v = value;
            v[pos] = bad;
            EXPECT_EQ(status_of(req("Host: a\r\nX-Long: " + v + "\r\n")), 400) << "byte " << int(bad) << " at " << pos;
            EXPECT_EQ(status_of(req("X-Long: " + v + "\r\nHost: a\r\n")), 400) << "byte " << int(bad) << " at " << pos;
        }
        std::string tabbed = value;
        tabbed[pos] = '\t';
        request_head h;
        const auto head = req("Host: a\r\nX-Long: " + tabbed + "\r\n");
        ASSERT_EQ(status_of(head, &h), 0) << "tab at " << pos;
        EXPECT_EQ(h.fields[1].value, std::string_view(tabbed).substr(pos == 0 ? 1 : 0, pos == 39 ? 39 : 40 - (pos == 0 ? 1 : 0)));
    }
}

TEST(HeadScanner, NamesAndLinesAcrossBlockEdges) {
    for (std::size_t len = 1; len < 40; ++len) {
        const std::string name = "X-" + std::string(len, 'n');
        const auto head = req("Host: a\r\n" + name + ":  v:w \r\n" + name + "2:x\r\n");
        request_head h;
        ASSERT_EQ(status_of(head, &h), 0) << len;
        ASSERT_EQ(h.fields.size(), 3u);
        EXPECT_EQ(h.fields[1].name, name);
        EXPECT_EQ(h.fields[1].value, "v:w");
        EXPECT_EQ(h.fields[1].line, name + ":  v:w \r\n");  // forwarded as received
        EXPECT_EQ(h.fields[2].name, name + "2");
        EXPECT_EQ(h.fields[2].value, "x");
        EXPECT_EQ(h.fields[0].line, "Host: a\r\n");
        EXPECT_EQ(status_of(req("Host: a\r\n" + name + " v\r\n")), 400) << "no colon, " << len;
    }
}

TEST(HeadScanner, HeadEndAtEveryOffset) {
    for (std::size_t pad = 0; pad < 70; ++pad) {
        const std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(pad, 'p') + "\r\n\r\n";
        EXPECT_EQ(find_head_end(head + "BODY\r\n\r\n", 0), head.size()) << pad;
        EXPECT_EQ(find_head_end(head.substr(0, head.size() - 1), 0), std::string_view::npos) << pad;
        EXPECT_EQ(find_head_end(head, head.size() - 2), head.size()) << pad;  // resumed after a short read
    }
}
