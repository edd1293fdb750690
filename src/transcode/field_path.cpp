#include "transcode/field_path.hpp"

#include <google/protobuf/descriptor.h>

namespace gatehouse::transcode {

const google::protobuf::FieldDescriptor* find_field(const google::protobuf::Descriptor* type, std::string_view name) {
    const std::string text(name);
    if (const auto* field = type->FindFieldByName(text)) return field;
    for (int i = 0; i < type->field_count(); ++i) {
        if (type->field(i)->json_name() == name) return type->field(i);
    }
    return nullptr;
}

bool resolve_field_path(const google::protobuf::Descriptor* type, std::string_view path, field_chain& out, std::string& error) {
    out.clear();
    std::size_t start = 0;
    for (;;) {
        const auto dot = path.find('.', start);
        const std::string name(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        const auto* field = find_field(type, name);
        if (field == nullptr) {
            error = "'" + name + "' is no field of " + type->full_name();
            return false;
        }
        out.push_back(field);
        if (dot == std::string_view::npos) return true;
        if (field->is_repeated() || field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
            error = "'" + name + "' of " + type->full_name() + " is no singular message, so '" + std::string(path) + "' names nothing";
            return false;
        }
        type = field->message_type();
        start = dot + 1;
    }
}

}  // namespace gatehouse::transcode
