#pragma once
// A response message's protobuf wire bytes straight into its JSON by a walk over the message's
// descriptors: the other hot half of REST-to-gRPC translation. It writes what libprotobuf 3.21's
// BinaryToJsonString writes (fields in wire order, int64 as strings, enums by name, bytes as
// padded base64, floats as SimpleDtoa/SimpleFtoa print them, unknown fields dropped) and
// declines what it is not sure of (always_print_primitive_fields, a field repeated apart on the
// wire, strings beyond printable ASCII, bytes that do not parse), which libprotobuf then renders.
#include <string>
#include <string_view>

#include "transcode/translate.hpp"

namespace google::protobuf {
class Descriptor;
}

namespace gatehouse::transcode {

// The JSON of `wire` as a message of `type` (walkable()) into `json` (replaced). False: declined.
bool decode_json(const google::protobuf::Descriptor* type, std::string_view wire, const print_options& print, std::string& json);

}  // namespace gatehouse::transcode
