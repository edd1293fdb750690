#pragma once
// The answer to a request that does not fit the API description: RFC 9457 problem details,
// application/problem+json, with the list of what is wrong (at most k_max_errors). Each error
// says where (`in`, and `name` for a parameter or `pointer` into the body), the keyword and what
// it wants; never the client's value.
#include <string>
#include <vector>

#include "gatehouse/middleware/middleware.hpp"
#include "openapi/spec.hpp"

namespace gatehouse::middleware::openapi_mw {

inline constexpr std::size_t k_max_errors = 20;

struct problem {
    struct error {
        std::string in;  // path, query, header, cookie, body
        std::string name;
        std::string pointer;
        bool has_pointer = false;
        std::string keyword;
        std::string detail;
    };
    int status = 400;
    std::string_view title = "Request does not match the API description";  // a literal
    std::vector<error> errors;

    void add_parameter(const gatehouse::openapi::parameter& p, const std::string& keyword, const std::string& detail);
    void add_body(const std::string& pointer, const std::string& keyword, const std::string& detail);
    void add_plain(std::string in, std::string name, std::string keyword, std::string detail);
    // The reply: status, Content-Type: application/problem+json, and the body.
    local_reply reply(std::string_view request_id, std::vector<std::pair<std::string, std::string>> extra) const;
};

}  // namespace gatehouse::middleware::openapi_mw
