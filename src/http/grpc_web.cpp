// gRPC-Web to gRPC on a route with grpc_web: true (grpc's PROTOCOL-WEB.md). The request goes
// upstream as gRPC: content-type application/grpc (with the client's +format), te: trailers,
// a text mode body base64-decoded as it arrives (grpc_web_body.cpp). The response comes back as
// gRPC-Web: its content-type, the messages as they are (base64 in text mode), the trailers as the
// body's last frame (relay.cpp); a Trailers-Only answer keeps grpc-status in its head.
#include "http/exchange.hpp"

namespace gatehouse::http {

void exchange::translate_grpc_web(forwarded_request& f) {
    std::string_view client_type;
    std::erase_if(f.kept, [&](std::uint32_t i) {
        if (!iequals(req.fields[i].name, "content-type")) return false;
        client_type = req.fields[i].value;
        return true;
    });
    // "application/grpc-web-text+proto; x" -> "application/grpc+proto"
    auto plus = client_type.find('+');
    auto params = client_type.find(';');
    web_content_type_ = "application/grpc";
    if (plus != std::string_view::npos && plus < params) web_content_type_ += client_type.substr(plus, params - plus);
    while (!web_content_type_.empty() && (web_content_type_.back() == ' ' || web_content_type_.back() == '\t')) web_content_type_.pop_back();
    f.added.push_back({"content-type", web_content_type_});
    f.te_trailers = true;
    if (grpc_protocol == grpc::protocol::web_text) f.content_length.reset();  // decoded, it is shorter
}

// The relayed head of a gRPC-Web answer: its content-type instead of the upstream's.
void exchange::grpc_web_head(field_list fields) {
    std::erase_if(relayed_kept_, [&](std::uint32_t i) { return iequals(fields[i].name, "content-type"); });
    relayed_added_.push_back({"content-type", grpc::reply_content_type(grpc_protocol)});  // a literal's view
}

}  // namespace gatehouse::http
