#pragma once
// Parsing of the config's value syntaxes: durations (250ms, 5s, 2m, 1h), sizes (512KiB, 10MiB),
// addresses (host:port, [v6]:port) and CIDR blocks.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::config {

using duration = std::chrono::milliseconds;

std::optional<duration> parse_duration(std::string_view text);
// Short waits, to the microsecond: 50us, 1ms, 0s (at most one second).
std::optional<std::chrono::microseconds> parse_short_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);

struct host_port {
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 0;
};
// "host:port", "[::1]:port"; the port is required (0 allowed: pick a free one).
std::optional<host_port> parse_host_port(std::string_view text);

std::string format_duration(duration d);

}  // namespace gatehouse::config
