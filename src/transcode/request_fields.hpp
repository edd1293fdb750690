#pragma once
// The request message of a translated call as one JSON object, before libprotobuf's JSON mapping
// turns it into bytes once: path variables and query parameters are text, each set at its field
// path with the JSON type the field's mapping takes (a bool as true/false, an enum's number as a
// number, integers and floats as the quoted strings proto3 JSON accepts, well-known types in
// their string forms). Building JSON rather than setting fields on a DynamicMessage lets one
// conversion handle the body, the well-known types and every number form.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace google::protobuf {
class Descriptor;
}

namespace gatehouse::transcode {

enum class set_result { ok, unknown_field, bad_value };

// Sets the field at `path` (dots between names) of `type` in `root` to `value`; a repeated
// field gets `value` appended. `error` says why on anything but ok.
set_result set_text_field(nlohmann::json& root, const google::protobuf::Descriptor* type, std::string_view path, std::string_view value,
                          std::string& error);

// Every parameter of a query string ("a.b=1&tag=x&tag=y", no '?') set as above; a parameter
// naming no field fails unless ignore_unknown. False and `error` for a malformed escape, an
// unknown field, or a value the field cannot take.
bool map_query(nlohmann::json& root, const google::protobuf::Descriptor* type, std::string_view query, bool ignore_unknown,
               std::string& error);

}  // namespace gatehouse::transcode
