#pragma once
// A proto3 message with a field of every kind the JSON walk writes (each scalar type, an enum,
// a nested and a recursive message, repeated fields, maps of several key types, a oneof, a proto3
// optional, a custom json_name), built into its own pool: shared by the differential unit test of
// transcode::encode_json and its fuzz target.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

namespace gatehouse::testing {

inline const google::protobuf::DescriptorPool& pb_json_pool() {
    namespace pb = google::protobuf;
    using F = pb::FieldDescriptorProto;
    static pb::DescriptorPool pool;
    static const bool built = [] {
        pb::FileDescriptorProto file;
        file.set_name("pbj.proto");
        file.set_package("pbj");
        file.set_syntax("proto3");
        auto* color = file.add_enum_type();
        color->set_name("Color");
        const char* names[] = {"RED", "GREEN", "BLUE"};
        for (int i = 0; i < 3; ++i) {
            auto* v = color->add_value();
            v->set_name(names[i]);
            v->set_number(i);
        }
        auto* m = file.add_message_type();
        m->set_name("M");
        const auto add = [](pb::DescriptorProto* to, const char* name, int number, F::Type type, const char* type_name = nullptr,
                            bool repeated = false) {
            auto* f = to->add_field();
            f->set_name(name);
            f->set_number(number);
            f->set_type(type);
            f->set_label(repeated ? F::LABEL_REPEATED : F::LABEL_OPTIONAL);
            if (type_name != nullptr) f->set_type_name(type_name);
            return f;
        };
        const auto add_map = [&](const char* name, int number, const char* entry, F::Type key, F::Type value, const char* value_type) {
            auto* e = m->add_nested_type();
            e->set_name(entry);
            e->mutable_options()->set_map_entry(true);
            add(e, "key", 1, key);
            add(e, "value", 2, value, value_type);
            add(m, name, number, F::TYPE_MESSAGE, (std::string(".pbj.M.") + entry).c_str(), true);
        };
        add(m, "i32", 1, F::TYPE_INT32);
        add(m, "i64", 2, F::TYPE_INT64);
        add(m, "u32", 3, F::TYPE_UINT32);
        add(m, "u64", 4, F::TYPE_UINT64);
        add(m, "s32", 5, F::TYPE_SINT32);
        add(m, "s64", 6, F::TYPE_SINT64);
        add(m, "f32", 7, F::TYPE_FIXED32);
        add(m, "f64", 8, F::TYPE_FIXED64);
        add(m, "sf32", 9, F::TYPE_SFIXED32);
        add(m, "sf64", 10, F::TYPE_SFIXED64);
        add(m, "d", 11, F::TYPE_DOUBLE);
        add(m, "f", 12, F::TYPE_FLOAT);
        add(m, "b", 13, F::TYPE_BOOL);
        add(m, "s", 14, F::TYPE_STRING);
        add(m, "by", 15, F::TYPE_BYTES);
        add(m, "e", 16, F::TYPE_ENUM, ".pbj.Color");
        add(m, "sub", 17, F::TYPE_MESSAGE, ".pbj.M");
        add(m, "ri", 18, F::TYPE_INT32, nullptr, true);
        add(m, "rs", 19, F::TYPE_STRING, nullptr, true);
        add(m, "rsub", 20, F::TYPE_MESSAGE, ".pbj.M", true);
        add_map("msi", 21, "MsiEntry", F::TYPE_STRING, F::TYPE_INT32, nullptr);
        add_map("mim", 22, "MimEntry", F::TYPE_INT64, F::TYPE_MESSAGE, ".pbj.M");
        add_map("mbs", 23, "MbsEntry", F::TYPE_BOOL, F::TYPE_STRING, nullptr);
        m->add_oneof_decl()->set_name("choice");
        add(m, "oa", 24, F::TYPE_STRING)->set_oneof_index(0);
        add(m, "ob", 25, F::TYPE_INT32)->set_oneof_index(0);
        m->add_oneof_decl()->set_name("_oi");
        auto* oi = add(m, "oi", 26, F::TYPE_INT32);
        oi->set_oneof_index(1);
        oi->set_proto3_optional(true);
        add(m, "json_custom", 27, F::TYPE_INT32)->set_json_name("renamed");
        add(m, "snake_case_name", 28, F::TYPE_STRING);
        add(m, "rd", 29, F::TYPE_DOUBLE, nullptr, true);
        add(m, "re", 30, F::TYPE_ENUM, ".pbj.Color", true);
        add_map("mue", 31, "MueEntry", F::TYPE_UINT32, F::TYPE_ENUM, ".pbj.Color");
        add(m, "rf", 32, F::TYPE_FLOAT, nullptr, true);
        add(m, "rby", 33, F::TYPE_BYTES, nullptr, true);
        add_map("msm", 34, "MsmEntry", F::TYPE_SINT32, F::TYPE_STRING, nullptr);
        add(m, "ri64", 35, F::TYPE_INT64, nullptr, true);
        add(m, "ru64", 36, F::TYPE_UINT64, nullptr, true);
        add(m, "rb", 37, F::TYPE_BOOL, nullptr, true);
        add(m, "rs64", 38, F::TYPE_SINT64, nullptr, true);
        add(m, "rf32", 39, F::TYPE_FIXED32, nullptr, true);
        add(m, "rsf64", 40, F::TYPE_SFIXED64, nullptr, true);
        add_map("mid", 41, "MidEntry", F::TYPE_INT32, F::TYPE_DOUBLE, nullptr);
        add_map("mfb", 42, "MfbEntry", F::TYPE_FIXED64, F::TYPE_BYTES, nullptr);
        add_map("msf", 43, "MsfEntry", F::TYPE_SFIXED32, F::TYPE_INT64, nullptr);
        return pool.BuildFile(file) != nullptr;
    }();
    (void)built;
    return pool;
}

// Documents of pbj.M with every scalar field at ordinary, zero and extreme values, valid both
// ways: the encode test writes them, the decode test prints libprotobuf's bytes of them.
inline constexpr const char* k_scalar_documents[] = {
    R"({})",
    R"({"i32":1,"i64":"2","u32":3,"u64":"4","s32":-5,"s64":"-6","f32":7,"f64":"8","sf32":-9,"sf64":"-10"})",
    R"({"i32":0,"i64":0,"u32":0,"s":"","b":false,"d":0,"e":"RED","by":""})",
    R"({"i32":-1,"i64":-1,"s32":-2147483648,"sf32":2147483647,"u32":4294967295})",
};

}  // namespace gatehouse::testing
