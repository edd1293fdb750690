#pragma once
// The grpc-timeout request field (PROTOCOL-HTTP2.md): "Timeout → TimeoutValue TimeoutUnit",
// a positive integer of at most 8 digits and one of H M S m u n.
#include <chrono>
#include <optional>
#include <string_view>

namespace gatehouse::grpc {

// The duration, or nothing for anything malformed (a client's malformed timeout is ignored,
// as grpc's servers do, and the route's timeout applies). Values below a millisecond round up
// to one: a deadline of zero would mean "no deadline" in the call options.
std::optional<std::chrono::milliseconds> parse_timeout(std::string_view value);

}  // namespace gatehouse::grpc
