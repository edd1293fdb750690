#pragma once
// Which gRPC protocol a request speaks, from its content-type (grpc's PROTOCOL-HTTP2.md and
// PROTOCOL-WEB.md): "application/grpc" with an optional "+format" suffix, and gRPC-Web in
// binary ("application/grpc-web[+format]") and text ("application/grpc-web-text[+format]",
// base64) modes. Parameters after ';' are allowed; the media type is case-insensitive.
#include <string_view>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::grpc {

enum class protocol : unsigned char { none, grpc, web, web_text };

protocol classify_content_type(std::string_view content_type);

// The content-type of a response to a request of that protocol: "application/grpc",
// "application/grpc-web+proto", "application/grpc-web-text+proto" (empty for none).
std::string_view reply_content_type(protocol p);

inline bool is_grpc(std::string_view content_type) {
    return classify_content_type(content_type) != protocol::none;
}

// Whether a head's content-type is a gRPC one (an answer gatehouse treats as gRPC).
bool is_grpc_answer(http::field_list fields);

}  // namespace gatehouse::grpc
