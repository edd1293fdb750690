#include "middleware/middleware.hpp"

namespace gatehouse::middleware {

boost::asio::awaitable<verdict> middleware::on_request_async(request_context& ctx, local_reply& reply) const {
    co_return on_request(ctx, reply);
}

std::optional<std::string_view> request_context::header(std::string_view name) const {
    for (auto& f : fields)
        if (http::iequals(f.name, name)) return f.value;
    return std::nullopt;
}

std::optional<std::string_view> request_context::cookie(std::string_view name) const {
    for (auto& f : fields) {
        if (!http::iequals(f.name, "cookie")) continue;
        std::string_view v = f.value;
        while (!v.empty()) {
            auto semi = v.find(';');
            auto pair = v.substr(0, semi);
            while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
            auto eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
            if (semi == std::string_view::npos) break;
            v.remove_prefix(semi + 1);
        }
    }
    return std::nullopt;
}

bool valid_header_value(std::string_view v) {
    for (unsigned char c : v)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}

}  // namespace gatehouse::middleware
