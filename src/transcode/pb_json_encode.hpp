#pragma once
// A request's JSON straight into the protobuf wire format by a walk over the message's
// descriptors (no google.protobuf.Type, no JSON text re-parsed by libprotobuf): the hot half of
// REST-to-gRPC translation. It takes only what it is sure libprotobuf 3.21's JsonToBinaryString
// (default JsonParseOptions) writes the same bytes for; anything else (an error, an odd spelling,
// a repeated member name) it declines and the caller asks libprotobuf, which decides and says why.
#include <string>

#include "json/tape.hpp"

namespace google::protobuf {
class Descriptor;
}

namespace gatehouse::transcode {

// Whether encode_json can take messages of `type`: proto3 throughout, with no well-known type
// (google.protobuf.Empty aside), no group and no extension anywhere below it. Decided at load.
bool walkable(const google::protobuf::Descriptor* type);

// `body` (empty: "{}") parsed into `doc` when the walk may take it: JSON to both parsers (no
// byte order mark, which libprotobuf refuses; nesting within `max_depth`) and no member name
// repeated in an object (libprotobuf writes both values).
bool parse_body(std::string_view body, std::size_t max_depth, json_tape::tape& doc);

// The wire bytes of `object` (a JSON object) as a message of `type` (walkable), appended to `out`.
// False: declined (`out` then holds a partial message; the caller discards it).
bool encode_json(const google::protobuf::Descriptor* type, json_tape::value object, std::string& out);

}  // namespace gatehouse::transcode
