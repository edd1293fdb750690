#pragma once
// The request as it goes to an upstream, as the forwarding policy leaves it (src/http/
// forwarding.cpp): the rewritten target, the client's fields that pass (hop-by-hop ones, those
// its Connection field names, forwarding claims from an untrusted peer, what middleware
// removed, identity fields only gatehouse may vouch for are not among them), and what gatehouse
// adds. No wire text: the upstream's codec writes it (HTTP/1: src/http1/request_writer.cpp,
// which copies the client's field lines as they arrived when the client spoke HTTP/1 too).
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::http {

struct forwarded_request {
    std::string_view method;
    std::string_view path;   // normalised, rewritten
    std::string_view query;  // without the parameters middleware took
    bool has_query = false;
    std::string_view authority;       // Host / :authority upstream
    field_list source;                // the client's fields
    std::vector<std::uint32_t> kept;  // indices into `source` of those that pass, in order
    std::vector<field> added;         // gatehouse's (identity, middleware's), after the kept ones
    // Then what gatehouse always sets: X-Forwarded-For (a trusted proxy's claim, then the peer),
    // X-Forwarded-Proto, X-Forwarded-Host (empty: none), X-Request-Id, traceparent (empty: none).
    std::string_view forwarded_for_claim, peer, forwarded_proto, forwarded_host;
    std::string_view request_id, traceparent;
    std::string_view upgrade;  // an Upgrade value the route lets through, or empty
    bool te_trailers = false;  // the client takes trailers (TE: trailers)
    bool has_body = false;
    std::optional<std::uint64_t> content_length;  // else, with a body: its length is not known
};

}  // namespace gatehouse::http
