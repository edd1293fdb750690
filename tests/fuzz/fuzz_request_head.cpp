// The request head scanner (src/http1/head_scanner.cpp), differentially: a head it accepts is
// written out again the way gatehouse forwards fields (name ": " value CRLF) and scanned a second
// time; both scans must agree on everything routing and framing depend on. A scanner that read
// a head one way and would forward it another is a smuggling bug.
#include <string>

#include "fuzz_check.hpp"
#include "http1/head.hpp"

using namespace gatehouse::http1;

namespace {

std::string serialise(const request_head& h) {
    std::string out;
    out.append(h.method).append(" ").append(h.target).append(h.version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
    for (auto& f : h.fields) out.append(f.name).append(": ").append(f.value).append("\r\n");
    out += "\r\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto text = gatehouse::fuzz::as_text(data, size);
    auto end = find_head_end(text, 0);
    // The word-at-a-time search against the plain one, from every resume point a reader uses.
    auto plain = text.find("\r\n\r\n");
    FUZZ_CHECK(end == (plain == std::string_view::npos ? plain : plain + 4));
    for (std::size_t from : {std::size_t{1}, text.size() / 2, text.size()}) {
        auto resumed = find_head_end(text, from);
        auto expect = text.find("\r\n\r\n", from >= 3 ? from - 3 : 0);
        FUZZ_CHECK(resumed == (expect == std::string_view::npos ? expect : expect + 4));
    }
    if (end == std::string_view::npos) return 0;
    FUZZ_CHECK(end <= text.size() && text.substr(end - 4, 4) == "\r\n\r\n");
    scan_limits limits;
    request_head first;
    if (scan_request(text.substr(0, end), limits, first)) return 0;
    FUZZ_CHECK(!first.method.empty() && is_token(first.method));
    FUZZ_CHECK(first.version == 10 || first.version == 11);
    for (auto& f : first.fields) {
        FUZZ_CHECK(field_name_problem(f.name, true) == nullptr);
        FUZZ_CHECK(f.value.find_first_of("\r\n") == std::string_view::npos);
    }
    auto again = serialise(first);
    request_head second;
    auto err = scan_request(again, limits, second);
    FUZZ_CHECK(!err);
    FUZZ_CHECK(second.method == first.method && second.target == first.target && second.path == first.path);
    FUZZ_CHECK(second.query == first.query && second.has_query == first.has_query && second.asterisk == first.asterisk);
    FUZZ_CHECK(second.version == first.version && second.host == first.host);
    FUZZ_CHECK(second.framing == first.framing && second.content_length == first.content_length);
    FUZZ_CHECK(second.keep_alive == first.keep_alive && second.expect_continue == first.expect_continue);
    FUZZ_CHECK(gatehouse::fuzz::same_fields(first.fields, second.fields));
    return 0;
}
