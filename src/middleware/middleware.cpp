#include "middleware/middleware.hpp"

#include <cstdint>
#include <cstring>

namespace gatehouse::middleware {

boost::asio::awaitable<verdict> middleware::on_request_async(request_context& ctx, local_reply& reply) const {
    co_return on_request(ctx, reply);
}

std::optional<std::string_view> request_context::header(std::string_view name) const {
    for (auto& f : fields)
        if (http::iequals(f.name, name)) return f.value;
    return std::nullopt;
}

std::optional<std::string_view> request_context::cookie(std::string_view name) const { return http::find_cookie(fields, name); }

bool valid_header_value(std::string_view v) {
    // Eight bytes at a time (SWAR): a word with no byte below 0x20 and none equal to 0x7f is
    // fine as it is; only a word that has one (a tab, or a real CTL) is looked at byte by byte.
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    auto bad_byte = [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; };
    std::size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, v.data() + i, 8);
        const std::uint64_t below = (w - ones * 0x20) & ~w & highs;  // a byte < 0x20 (of those < 0x80)
        const std::uint64_t x = w ^ (ones * 0x7f);
        const std::uint64_t del = (x - ones) & ~x & highs;           // a byte == 0x7f
        if ((below | del) == 0) continue;
        for (std::size_t k = i; k < i + 8; ++k)
            if (bad_byte(static_cast<unsigned char>(v[k]))) return false;
    }
    for (; i < v.size(); ++i)
        if (bad_byte(static_cast<unsigned char>(v[i]))) return false;
    return true;
}

}  // namespace gatehouse::middleware
