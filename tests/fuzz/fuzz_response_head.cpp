// The response head scanner, differentially as the request one (fuzz_request_head.cpp): an
// accepted head written out again scans to the same status, framing and fields. The first input
// byte says whether the request was HEAD (no body whatever the head says).
#include <string>

#include "fuzz_check.hpp"
#include "http1/head.hpp"

using namespace gatehouse::http1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    const bool head_request = in.byte() & 1;
    auto text = in.rest;
    auto end = find_head_end(text, 0);
    if (end == std::string_view::npos) return 0;
    scan_limits limits;
    response_head first;
    if (scan_response(text.substr(0, end), limits, head_request, first)) return 0;
    FUZZ_CHECK(first.status >= 100 && first.status <= 999);
    FUZZ_CHECK(first.version == 10 || first.version == 11);
    if (head_request || first.status == 204 || first.status == 304 || first.status < 200) FUZZ_CHECK(first.framing == body_framing::none);
    for (auto& f : first.fields) FUZZ_CHECK(f.value.find_first_of("\r\n") == std::string_view::npos);
    std::string again = first.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    again += std::to_string(first.status);
    again.append(" ").append(first.reason).append("\r\n");
    for (auto& f : first.fields) again.append(f.name).append(": ").append(f.value).append("\r\n");
    again += "\r\n";
    response_head second;
    FUZZ_CHECK(!scan_response(again, limits, head_request, second));
    FUZZ_CHECK(second.status == first.status && second.version == first.version && second.reason == first.reason);
    FUZZ_CHECK(second.framing == first.framing && second.content_length == first.content_length);
    FUZZ_CHECK(second.has_content_length == first.has_content_length && second.keep_alive == first.keep_alive);
    FUZZ_CHECK(gatehouse::fuzz::same_fields(first.fields, second.fields));
    return 0;
}
