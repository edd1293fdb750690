#include "middleware/openapi/problem.hpp"

namespace gatehouse::middleware::openapi_mw {

namespace {
constexpr std::string_view k_param_in[] = {"path", "query", "header", "cookie"};
}

void problem::add_parameter(const gatehouse::openapi::parameter& p, const std::string& keyword, const std::string& detail) {
    add_plain(std::string(k_param_in[static_cast<int>(p.in)]), p.name, keyword, detail);
}

void problem::add_body(const std::string& pointer, const std::string& keyword, const std::string& detail) {
    if (errors.size() >= k_max_errors) return;
    errors.push_back({"body", "", pointer, true, keyword, detail});
}

void problem::add_plain(std::string in, std::string name, std::string keyword, std::string detail) {
    if (errors.size() >= k_max_errors) return;
    errors.push_back({std::move(in), std::move(name), "", false, std::move(keyword), std::move(detail)});
}

local_reply problem::reply(std::string_view request_id, std::vector<std::pair<std::string, std::string>> extra) const {
    gatehouse::openapi::json body = {
        {"type", "urn:gatehouse:problem:openapi-validation"},
        {"title", title},
        {"status", status},
        {"request_id", std::string(request_id)},
    };
    auto list = gatehouse::openapi::json::array();
    for (auto& e : errors) {
        gatehouse::openapi::json j = {{"in", e.in}};
        if (e.has_pointer)
            j["pointer"] = e.pointer;
        else if (!e.name.empty())
            j["name"] = e.name;
        j["keyword"] = e.keyword;
        j["detail"] = e.detail;
        list.push_back(std::move(j));
    }
    body["errors"] = std::move(list);
    struct kept {
        std::string text;
        std::vector<std::pair<std::string, std::string>> fields;
    };
    auto k = std::make_shared<kept>();
    // Names and pointers come from the request (a property name, a query parameter's name):
    // dump() escapes them, and invalid UTF-8 is replaced rather than thrown on.
    k->text = body.dump(-1, ' ', true, gatehouse::openapi::json::error_handler_t::replace);
    k->fields.emplace_back("content-type", "application/problem+json");
    k->fields.emplace_back("x-request-id", std::string(request_id));
    for (auto& f : extra) k->fields.push_back(std::move(f));
    local_reply r;
    r.status = status;
    r.full = full_response{status, k->fields, k->text, k};
    return r;
}

}  // namespace gatehouse::middleware::openapi_mw
