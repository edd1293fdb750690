#pragma once
// Request and response heads as every codec hands them over: views into the codec's own
// buffers, with fields as a field_list. No wire text: how the head was framed (an HTTP/1.1
// request line and field lines, HTTP/2 pseudo-fields and HPACK) stays the codec's business.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::http {

// A request head as received. The views stay valid until the exchange first reads the request
// body, or, for a request without one, until the exchange ends.
struct request_head {
    std::string_view method;
    std::string_view scheme;     // "http" or "https"
    std::string_view authority;  // the host (HTTP/1.1 Host, HTTP/2 :authority), validated; empty from an HTTP/1.0 client that sent none
    std::string_view path;       // the origin-form path as received (undecoded, not normalised); "*" for OPTIONS *
    std::string_view query;      // without the '?'
    bool has_query = false;
    field_list fields;  // the request's fields (no pseudo-fields)
    bool has_body = false;
    std::optional<std::uint64_t> content_length;  // the body's length when the client declared it
};

// A response head. Fields are written in order, then `added`; the codec adds its own framing
// (HTTP/1.1 Content-Length or Transfer-Encoding and Connection, HTTP/2 END_STREAM).
struct response_head {
    int status = 0;
    std::string_view reason;  // a relayed HTTP/1 response's own reason phrase (HTTP/1.1 only); empty: the standard one
    field_list fields;
    // The indices of `fields` to send, in order (a relayed response: what the forwarding policy
    // keeps of the upstream's, never a hop-by-hop field nor Content-Length); null: all of them.
    const std::vector<std::uint32_t>* kept = nullptr;
    field_list added;
    std::optional<std::uint64_t> content_length;  // the body's length when known before it is sent
};

// Trailers (RFC 9110 §6.5): fields after the body.
using trailers = field_list;

}  // namespace gatehouse::http
