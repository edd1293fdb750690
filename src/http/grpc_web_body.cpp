// A gRPC-Web text request body, decoded as it arrives (grpc_web_body.hpp).
#include "http/grpc_web_body.hpp"

namespace gatehouse::http {

void grpc_web_body::attach(downstream& client) {
    client_ = &client;
    decoder_ = grpc::web_request_decoder(true);
    decoded_.clear();
    bad_ = false;
}

void grpc_web_body::pull() {
    const auto in = client_->body_ready();
    if (in.empty()) return;
    if (!decoder_.feed(in, decoded_)) bad_ = true;
    client_->consume_body(in.size());  // the client's window opens as the base64 is decoded
}

std::string_view grpc_web_body::body_ready() {
    pull();
    return decoded_;
}

// More decoded bytes than now, or the end (a piece of base64 may decode to nothing yet: a group
// split across reads). Base64 that is not, or that ends inside a group, is a bad body (400).
boost::asio::awaitable<body_status> grpc_web_body::read_body() {
    const auto before = decoded_.size();
    pull();
    for (;;) {
        if (bad_) co_return body_status::bad;
        if (decoded_.size() > before) co_return body_status::ok;
        if (client_->body_done() && client_->body_ready().empty())
            co_return decoder_.complete() ? body_status::ok : body_status::bad;
        const auto st = co_await client_->read_body();
        if (st != body_status::ok) co_return st;
        pull();
    }
}

}  // namespace gatehouse::http
