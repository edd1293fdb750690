// routes[].grpc_transcode's parsers of what clients and descriptor sets send: the
// google.api.http path template (transcode::parse_http_template) matched against a fuzzer-chosen
// path, and the query-parameter mapper (transcode::map_query) into a message with a field of
// every kind it handles (scalars, a bool, an enum, a repeated field, a nested message, bytes).
// Input: [split byte][template text][path]\n[query].
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.hpp"
#include "transcode/http_template.hpp"
#include "transcode/request_fields.hpp"

using namespace gatehouse;
namespace pb = google::protobuf;

namespace {

const pb::Descriptor* query_message() {
    static pb::DescriptorPool pool;
    static const pb::Descriptor* type = [] {
        pb::FileDescriptorProto f;
        f.set_name("fuzz.proto");
        f.set_package("fuzz");
        f.set_syntax("proto3");
        auto* e = f.add_enum_type();
        e->set_name("Kind");
        for (int i = 0; i < 2; ++i) {
            auto* v = e->add_value();
            v->set_name(i == 0 ? "ZERO" : "ONE");
            v->set_number(i);
        }
        auto* m = f.add_message_type();
        m->set_name("Q");
        auto add = [m](const char* name, int number, pb::FieldDescriptorProto::Type type, const char* type_name = nullptr,
                       bool repeated = false) {
            auto* field = m->add_field();
            field->set_name(name);
            field->set_number(number);
            field->set_type(type);
            field->set_label(repeated ? pb::FieldDescriptorProto::LABEL_REPEATED : pb::FieldDescriptorProto::LABEL_OPTIONAL);
            if (type_name != nullptr) field->set_type_name(type_name);
        };
        add("s", 1, pb::FieldDescriptorProto::TYPE_STRING);
        add("i", 2, pb::FieldDescriptorProto::TYPE_INT32);
        add("b", 3, pb::FieldDescriptorProto::TYPE_BOOL);
        add("k", 4, pb::FieldDescriptorProto::TYPE_ENUM, ".fuzz.Kind");
        add("r", 5, pb::FieldDescriptorProto::TYPE_STRING, nullptr, true);
        add("sub", 6, pb::FieldDescriptorProto::TYPE_MESSAGE, ".fuzz.Q");
        add("d", 7, pb::FieldDescriptorProto::TYPE_DOUBLE);
        add("by", 8, pb::FieldDescriptorProto::TYPE_BYTES);
        return pool.BuildFile(f)->message_type(0);
    }();
    return type;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    const std::size_t first = in.byte();  // before rest.size(): the arguments' order is unspecified
    const auto newline = in.rest.find('\n');
    const auto head = in.rest.substr(0, newline);
    const auto query = newline == std::string_view::npos ? std::string_view{} : in.rest.substr(newline + 1);
    const std::size_t split = std::min<std::size_t>(first, head.size());

    std::string error;
    auto t = transcode::parse_http_template(head.substr(0, split), error);
    if (!t) {
        FUZZ_CHECK(!error.empty());
    } else {
        for (const auto& v : t->variables) FUZZ_CHECK(v.first < v.last && v.last <= t->segments.size() && !v.field_path.empty());
        transcode::bound_values values;
        if (transcode::match_http_template(*t, head.substr(split), values)) {
            FUZZ_CHECK(values.size() == t->variables.size());
            for (std::size_t i = 0; i < values.size(); ++i) FUZZ_CHECK(values[i].first == t->variables[i].field_path);
        }
    }

    auto root = nlohmann::json::object();
    error.clear();
    if (transcode::map_query(root, query_message(), query, (first & 1) != 0, error)) {
        FUZZ_CHECK(root.is_object());
        // Every value went where the descriptor says: a repeated field an array, the rest scalars
        // or (sub) objects.
        if (root.contains("r")) FUZZ_CHECK(root["r"].is_array());
        if (root.contains("b")) FUZZ_CHECK(root["b"].is_boolean());
        if (root.contains("sub")) FUZZ_CHECK(root["sub"].is_object());
        (void)root.dump();
    } else {
        FUZZ_CHECK(!error.empty());
    }
    return 0;
}
