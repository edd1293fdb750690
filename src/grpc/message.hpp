#pragma once
// The grpc-message field (PROTOCOL-HTTP2.md, "Responses"): the status message's UTF-8 bytes
// percent-encoded; every byte outside 0x20..0x7E, and '%' itself, as "%XX" (upper-case hex).
#include <string>
#include <string_view>

namespace gatehouse::grpc {

void append_message_encoded(std::string& out, std::string_view message);
std::string encode_message(std::string_view message);
// Back to the bytes; a '%' not followed by two hex digits is kept as it is, as the spec asks
// ("decode ... without failing").
std::string decode_message(std::string_view field);

}  // namespace gatehouse::grpc
