#include "admin/status_page.hpp"

#include <array>
#include <string>

#include "admin/status_assets.hpp"

namespace gatehouse::admin {

namespace {

struct asset {
    std::string_view path;
    std::string_view content_type;
    const std::string_view* body;
};

const std::array<asset, 3> k_assets{{
    {"/status", "text/html; charset=utf-8", &k_status_html},
    {"/status.js", "text/javascript; charset=utf-8", &k_status_js},
    {"/status.css", "text/css; charset=utf-8", &k_status_css},
}};

}  // namespace

std::optional<admin_response> status_page_answer(std::string_view method, std::string_view path) {
    for (auto& a : k_assets) {
        if (a.path != path) continue;
        admin_response r;
        if (method != "GET" && method != "HEAD") {
            r = {405, "text/plain", "method not allowed: use GET, HEAD\n", {{"Allow", "GET, HEAD"}}};
        } else {
            r.content_type = std::string(a.content_type);
            r.body = std::string(*a.body);
        }
        r.headers.emplace_back("Content-Security-Policy", std::string(k_status_csp));
        r.headers.emplace_back("X-Content-Type-Options", "nosniff");
        r.headers.emplace_back("Referrer-Policy", "no-referrer");
        return r;
    }
    return std::nullopt;
}

}  // namespace gatehouse::admin
