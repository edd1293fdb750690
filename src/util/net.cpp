#include "gatehouse/util/net.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace gatehouse::util {

std::optional<ip_address> ip_address::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    std::string s(text);
    ip_address a;
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        a.bytes[10] = 0xff;
        a.bytes[11] = 0xff;
        std::memcpy(&a.bytes[12], &v4, 4);
        return a;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
        std::memcpy(a.bytes.data(), &v6, 16);
        return a;
    }
    return std::nullopt;
}

std::string ip_address::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes.data(), mapped, 12) == 0) {
        inet_ntop(AF_INET, &bytes[12], buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    }
    return buf;
}

std::optional<cidr> cidr::parse(std::string_view text) {
    auto slash = text.find('/');
    auto addr = ip_address::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    unsigned len = v4 ? 32 : 128;
    if (slash != std::string_view::npos) {
        auto num = text.substr(slash + 1);
        auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), len);
        if (ec != std::errc{} || p != num.data() + num.size()) return std::nullopt;
        if (len > (v4 ? 32u : 128u)) return std::nullopt;
    }
    if (v4) len += 96;
    return cidr{*addr, len};
}

bool cidr::contains(const ip_address& a) const {
    unsigned full = prefix_len / 8, rest = prefix_len % 8;
    if (std::memcmp(a.bytes.data(), base.bytes.data(), full) != 0) return false;
    if (rest == 0) return true;
    std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

}  // namespace gatehouse::util
