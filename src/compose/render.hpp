#pragma once
// A call's request as the references make it at run time: its path (values percent-encoded) and
// its JSON body, from what the composition knows of the client's request (owned copies: the
// request head's views die once its body is read) and the responses of the calls before it.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compose/compose_config.hpp"

namespace gatehouse::compose {

using string_pairs = std::vector<std::pair<std::string, std::string>>;

// What references read.
struct request_inputs {
    string_pairs path_vars, fields, claims;  // fields: lower-case names
    std::string query;                       // as the client sent it (percent-encoded)
    std::string authority, content_type;     // X-Forwarded-Host; the client body's type (body: client)
    std::string client_address;              // X-Forwarded-For: the client as trusted_proxies decide
};

struct render_context {
    const request_inputs& request;
    const std::vector<call_config>& calls;
    const std::vector<const nlohmann::json*>& results;  // each call's shaped response (null: none)
    const nlohmann::json* item = nullptr;               // the foreach element
};

// The value a reference names (request sources as strings); nullopt when there is none.
std::optional<nlohmann::json> resolve(const reference& r, const render_context& ctx);

// The path and query; nullopt (with the reference's text in `missing`) when a reference names
// nothing or a value that is not a scalar.
std::optional<std::string> render_path(const text_template& t, const render_context& ctx, std::string& missing);

// The body template with its references replaced: a string that is one whole reference takes
// the value (with its type), other strings the scalars' text.
std::optional<nlohmann::json> render_body(const nlohmann::json& tmpl, const render_context& ctx, std::string& missing);

}  // namespace gatehouse::compose
