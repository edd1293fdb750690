#include "gatehouse/config/units.hpp"

#include <charconv>
#include <initializer_list>

namespace gatehouse::config {

namespace {
// Splits "250ms" into 250 and "ms"; the number must be a whole non-negative integer.
bool split_number(std::string_view text, std::uint64_t& n, std::string_view& unit) {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || p == text.data()) return false;
    unit = text.substr(static_cast<std::size_t>(p - text.data()));
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    return true;
}

// "<n><unit>" with the unit's multiplier from `units`; nothing when the unit is unknown or
// n * multiplier exceeds `cap`.
struct unit_scale {
    std::string_view unit;
    std::uint64_t mult;
};
std::optional<std::uint64_t> parse_scaled(std::string_view text, std::initializer_list<unit_scale> units, std::uint64_t cap) {
    std::uint64_t n = 0;
    std::string_view unit;
    if (!split_number(text, n, unit)) return std::nullopt;
    for (const auto& u : units)
        if (u.unit == unit) {
            if (n > cap / u.mult) return std::nullopt;
            return n * u.mult;
        }
    return std::nullopt;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
    if (text == "0") return duration(0);  // zero needs no unit (`max_stream_duration: 0`, `ping_interval: 0`)
    constexpr std::uint64_t cap = 10ull * 365 * 24 * 3600 * 1000;  // ten years in ms
    auto ms = parse_scaled(text, {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}, cap);
    if (!ms) return std::nullopt;
    return duration(static_cast<duration::rep>(*ms));
}

std::optional<std::chrono::microseconds> parse_short_duration(std::string_view text) {
    auto us = parse_scaled(text, {{"us", 1}, {"ms", 1000}, {"s", 1000'000}}, 1000'000);
    if (!us) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*us));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    return parse_scaled(text,
                        {{"", 1},
                         {"B", 1},
                         {"KiB", 1ull << 10},
                         {"K", 1ull << 10},
                         {"k", 1ull << 10},
                         {"MiB", 1ull << 20},
                         {"M", 1ull << 20},
                         {"GiB", 1ull << 30},
                         {"G", 1ull << 30},
                         {"KB", 1000},
                         {"kB", 1000},
                         {"MB", 1000'000},
                         {"GB", 1000'000'000}},
                        1ull << 62);
}

std::optional<host_port> parse_host_port(std::string_view text) {
    host_port hp;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        hp.host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
        hp.host = std::string(text.substr(0, colon));
        port = text.substr(colon + 1);
    }
    if (hp.host.empty() || port.empty()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || p != port.data() + port.size() || v > 65535) return std::nullopt;
    hp.port = static_cast<std::uint16_t>(v);
    return hp;
}

std::string format_duration(duration d) {
    auto ms = d.count();
    if (ms % 86'400'000 == 0 && ms) return std::to_string(ms / 86'400'000) + "d";
    if (ms % 3'600'000 == 0 && ms) return std::to_string(ms / 3'600'000) + "h";
    if (ms % 60'000 == 0 && ms) return std::to_string(ms / 60'000) + "m";
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

}  // namespace gatehouse::config
