#pragma once
// gRPC-Web (grpc's PROTOCOL-WEB.md) as byte transformations, independent of any stream: the
// request body of a `-web-text` call base64-decoded piece by piece (a piece may end inside a
// 4-character group; padded chunks may be concatenated), and the gRPC response body made a
// gRPC-Web one: the messages as they are, the trailers as a final length-prefixed frame with
// flag 0x80 ("name:value\r\n" lines), all base64-encoded in text mode in 3-byte groups across
// pieces (padding only at the end). The exchange wires them in for routes with grpc_web: true
// (http/grpc_web.cpp, grpc_web_body.cpp, relay.cpp).
#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/http/fields.hpp"
#include "grpc/content_type.hpp"

namespace gatehouse::grpc {

class web_request_decoder {
public:
    explicit web_request_decoder(bool text) : text_(text) {}
    // Appends what `in` decodes to (binary mode: `in` itself) to `out`. false: not base64.
    bool feed(std::string_view in, std::string& out);
    // The body ended on a whole group.
    bool complete() const { return held_ == 0; }

private:
    bool text_;
    char group_[4]{};
    unsigned held_ = 0;
    bool padded_ = false;  // the group being filled had '=': only '=' may follow in it
};

class web_response_encoder {
public:
    explicit web_response_encoder(bool text) : text_(text) {}
    // Response body bytes (gRPC's length-prefixed messages), appended to `out` as they go to
    // the client.
    void data(std::string_view in, std::string& out);
    // The end of the response: its trailers as the final frame (a frame even when there are none
    // but the status: grpc-status is required), then, in text mode, the last group padded.
    void end(http::field_list trailers, std::string& out);

private:
    void emit(std::string_view in, std::string& out);
    bool text_;
    unsigned char held_[3]{};
    unsigned held_n_ = 0;
    std::string frame_;
};

// The trailer frame's payload: each field "name:value\r\n", names lower-cased (PROTOCOL-WEB.md).
void append_trailer_block(std::string& out, http::field_list trailers);

}  // namespace gatehouse::grpc
