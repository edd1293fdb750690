// RFC 9111 arithmetic on a response head from the upstream (src/cache/policy.cpp): Cache-Control
// (request and response), the three date forms, freshness, age, storability, Vary, tags, ETag
// lists. Dates round-trip; lifetimes stay within the route's cap and ages are never negative.
#include <string>

#include "cache/policy.hpp"
#include "http1/head.hpp"
#include "fuzz_check.hpp"

using namespace gatehouse::cache;
using namespace gatehouse::http;
using namespace gatehouse::http1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    const auto mode = in.byte();
    auto text = in.rest;
    if (mode % 4 == 0) {  // one field value, every parser that takes one
        response_directives rc;
        parse_response_directives(text, rc);
        request_directives qc;
        parse_request_directives(text, qc);
        for (auto* d :
             {&rc.max_age, &rc.s_maxage, &rc.stale_while_revalidate, &rc.stale_if_error, &qc.max_age, &qc.max_stale, &qc.min_fresh})
            FUZZ_CHECK(!d->present || d->invalid || (d->value >= 0 && d->value <= (std::int64_t{1} << 31)));
        if (auto t = parse_http_date(text)) {
            std::string out;
            append_http_date(out, *t);
            auto back = parse_http_date(out);
            FUZZ_CHECK(back && *back == *t);
        }
        (void)etag_list_matches(text, "\"abc\"");
        (void)etag_list_matches(text, "W/\"abc\"");
        return 0;
    }
    auto end = find_head_end(text, 0);
    if (end == std::string_view::npos) return 0;
    response_head head;
    if (scan_response(text.substr(0, end), scan_limits{}, false, head)) return 0;
    const sys_time now = sys_time{} + std::chrono::seconds(1'700'000'000);
    freshness_settings s;
    s.default_ttl = seconds(mode % 3 ? 60 : 0);
    s.heuristic = mode & 8;
    auto cc = response_directives_of(head.fields);
    bool explicit_lifetime = false;
    auto lifetime = freshness_lifetime(head.status, cc, head.fields, now, s, &explicit_lifetime);
    FUZZ_CHECK(lifetime >= seconds(0) && lifetime <= s.max_ttl);
    auto age = initial_age(head.fields, now - seconds(mode), now);
    FUZZ_CHECK(age.corrected_initial_age >= seconds(0));
    FUZZ_CHECK(current_age(age, now + seconds(5)) >= age.corrected_initial_age);
    (void)not_storable_reason(mode & 16 ? "GET" : "HEAD", head.status, cc, head.fields, mode & 32, mode & 64, s, explicit_lifetime);
    auto vary = vary_of(head.fields);
    for (auto& n : vary.names) {
        FUZZ_CHECK(!n.empty());
        (void)vary_value(head.fields, n);
    }
    for (auto& t : tags_of(head.fields)) FUZZ_CHECK(!t.empty() && t.find_first_of(" ,") == std::string::npos);
    (void)request_directives_of(head.fields);
    return 0;
}
