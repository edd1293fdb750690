#include "gatehouse/config/units.hpp"

#include <charconv>

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
}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
    std::uint64_t n = 0;
    std::string_view unit;
    if (!split_number(text, n, unit)) return std::nullopt;
    constexpr std::uint64_t cap = 10ull * 365 * 24 * 3600 * 1000;  // ten years in ms
    std::uint64_t mult;
    if (unit == "ms") mult = 1;
    else if (unit == "s") mult = 1000;
    else if (unit == "m") mult = 60'000;
    else if (unit == "h") mult = 3'600'000;
    else if (unit == "d") mult = 86'400'000;
    else return std::nullopt;
    if (n > cap / mult) return std::nullopt;
    return duration(static_cast<duration::rep>(n * mult));
}

std::optional<std::chrono::microseconds> parse_short_duration(std::string_view text) {
    std::uint64_t n = 0;
    std::string_view unit;
    if (!split_number(text, n, unit)) return std::nullopt;
    std::uint64_t mult;
    if (unit == "us") mult = 1;
    else if (unit == "ms") mult = 1000;
    else if (unit == "s") mult = 1000'000;
    else return std::nullopt;
    if (n > 1000'000 / mult) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(n * mult));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t n = 0;
    std::string_view unit;
    if (!split_number(text, n, unit)) return std::nullopt;
    std::uint64_t mult;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "KiB" || unit == "K" || unit == "k") mult = 1ull << 10;
    else if (unit == "MiB" || unit == "M") mult = 1ull << 20;
    else if (unit == "GiB" || unit == "G") mult = 1ull << 30;
    else if (unit == "KB" || unit == "kB") mult = 1000;
    else if (unit == "MB") mult = 1000'000;
    else if (unit == "GB") mult = 1000'000'000;
    else return std::nullopt;
    if (n > (1ull << 62) / mult) return std::nullopt;
    return n * mult;
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
