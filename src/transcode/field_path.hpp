#pragma once
// A dotted field path of a rule or a query parameter ("book.author.name") resolved in a message
// type: each name is a field's proto name or its JSON name; every step but the last is a
// singular message field.
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Descriptor;
class FieldDescriptor;
}  // namespace google::protobuf

namespace gatehouse::transcode {

using field_chain = std::vector<const google::protobuf::FieldDescriptor*>;

// The field of `type` with this proto name or JSON name; null: none.
const google::protobuf::FieldDescriptor* find_field(const google::protobuf::Descriptor* type, std::string_view name);

// The fields from `type` down; false and the reason in `error` when a name is no field of its
// message or a step before the last is no singular message.
bool resolve_field_path(const google::protobuf::Descriptor* type, std::string_view path, field_chain& out, std::string& error);

}  // namespace gatehouse::transcode
