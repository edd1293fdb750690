#pragma once
// gRPC status codes (grpc's doc/statuscodes.md): the numbers on the wire, the canonical names,
// the lower snake case spellings the config uses (retry `on:`, breaker `failure:`), and the
// status gatehouse gives its own HTTP answers on a gRPC request
// (grpc's doc/http-grpc-status-mapping.md).
#include <optional>
#include <string_view>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::grpc {

enum class status_code : int {
    ok = 0,
    cancelled = 1,
    unknown = 2,
    invalid_argument = 3,
    deadline_exceeded = 4,
    not_found = 5,
    already_exists = 6,
    permission_denied = 7,
    resource_exhausted = 8,
    failed_precondition = 9,
    aborted = 10,
    out_of_range = 11,
    unimplemented = 12,
    internal = 13,
    unavailable = 14,
    data_loss = 15,
    unauthenticated = 16,
};
inline constexpr int k_status_count = 17;

// "UNAVAILABLE", as grpc's documentation and tools print it.
std::string_view canonical_name(status_code c);
// "unavailable": the config's spelling (and the access log's and the metric label's).
std::string_view config_name(status_code c);
// The config's spelling back to the code; nothing for any other text.
std::optional<status_code> from_config_name(std::string_view name);
// The decimal value of a grpc-status field ("14"); nothing unless it is 0..16 without sign,
// spaces or leading zeros. An unknown number is UNKNOWN to a client (statuscodes.md), and the
// caller may treat it so.
std::optional<status_code> parse_status_field(std::string_view value);
// The status a head carries in its grpc-status field (a Trailers-Only response's head, or
// trailers); -1 when there is none, UNKNOWN's 2 for a value that is no status.
int status_in(http::field_list fields);
// "14": what a grpc-status field carries.
std::string_view status_field(status_code c);

// The status a gRPC client sees for an HTTP status gatehouse answers with itself: the mapping
// grpc's doc/http-grpc-status-mapping.md gives for a non-200 answer (400 INTERNAL, 401
// UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
// anything else UNKNOWN), refined where gatehouse knows more than the HTTP status says, as
// Envoy does: 429 is a rate limit (RESOURCE_EXHAUSTED), 504 a deadline (DEADLINE_EXCEEDED),
// 413 a limit (RESOURCE_EXHAUSTED), 501 UNIMPLEMENTED; 2xx is OK.
status_code from_http_status(int http_status);

// The other way: the HTTP status of a gRPC status code (a translated REST call's answer), as
// grpc-gateway and Envoy map google.rpc.Code; a code it does not know is 500.
int to_http_status(int grpc_code);

}  // namespace gatehouse::grpc
