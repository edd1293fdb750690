#include "gatehouse/middleware/middleware.hpp"

#include <cstdint>
#include <cstring>

namespace gatehouse::middleware {

boost::asio::awaitable<verdict> middleware::on_request_async(request_context& ctx, local_reply& reply) const {
    co_return on_request(ctx, reply);
}

boost::asio::awaitable<verdict> middleware::on_request_body_async(request_context& ctx, std::string_view body, local_reply& reply) const {
    const auto v = on_request_body(ctx, body, reply);
    co_return v == verdict::suspend ? verdict::next : v;
}

std::optional<std::string_view> request_context::header(std::string_view name) const {
    for (auto& f : fields)
        if (http::iequals(f.name, name)) return f.value;
    return std::nullopt;
}

std::optional<std::string_view> request_context::cookie(std::string_view name) const { return http::find_cookie(fields, name); }

}  // namespace gatehouse::middleware
