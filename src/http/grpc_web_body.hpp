#pragma once
// A gRPC-Web text call's request body as the upstream gets it (routes[].grpc_web): the client's
// base64 (application/grpc-web-text) decoded as it arrives, piece by piece, behind the same
// downstream interface the upstream call's sender pulls a body through. Only the body passes
// here; the response goes to the client's own stream.
#include <string>

#include "gatehouse/http/stream.hpp"
#include "grpc/web.hpp"

namespace gatehouse::http {

class grpc_web_body final : public downstream {
public:
    void attach(downstream& client);

    const connection_facts& facts() const override { return client_->facts(); }
    std::string_view body_ready() override;
    void consume_body(std::size_t n) override { decoded_.erase(0, n); }
    boost::asio::awaitable<body_status> read_body() override;
    // Done only when all of it decoded well: a bad or cut body is reported by read_body().
    bool body_done() const override {
        return client_->body_done() && client_->body_ready().empty() && decoded_.empty() && !bad_ && decoder_.complete();
    }
    trailers request_trailers() const override { return client_->request_trailers(); }
    boost::asio::awaitable<interim_outcome> send_interim(const response_head& h) override { return client_->send_interim(h); }
    boost::asio::awaitable<bool> send_head(const response_head& h, std::string_view d, bool end) override {
        return client_->send_head(h, d, end);
    }
    boost::asio::awaitable<bool> send_data(std::string_view d, bool end) override { return client_->send_data(d, end); }
    boost::asio::awaitable<bool> send_trailers(const trailers& t) override { return client_->send_trailers(t); }
    void reset() override { client_->reset(); }

private:
    void pull();  // what the client's stream has, decoded into decoded_
    downstream* client_ = nullptr;
    grpc::web_request_decoder decoder_{true};
    std::string decoded_;
    bool bad_ = false;
};

}  // namespace gatehouse::http
