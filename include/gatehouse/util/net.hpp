#pragma once
// Small network value types shared by config and data plane (no Asio here).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::util {

// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96).
struct ip_address {
    std::array<std::uint8_t, 16> bytes{};
    static std::optional<ip_address> parse(std::string_view text);
    std::string to_string() const;
    bool operator==(const ip_address&) const = default;
};

struct cidr {
    ip_address base;
    unsigned prefix_len = 128;                                // in the 128-bit space
    static std::optional<cidr> parse(std::string_view text);  // "10.0.0.0/8", "::1", "1.2.3.4"
    bool contains(const ip_address& a) const;
};

}  // namespace gatehouse::util
