// transcode::decode_json against libprotobuf's BinaryToJsonString (the path it replaces), message
// by message and for each print option: when the walk takes a message, its JSON is libprotobuf's
// text byte for byte; what it declines libprotobuf renders.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "../fuzz/pb_json_schema.hpp"
#include "transcode/pb_json_decode.hpp"

namespace pb = google::protobuf;
using gatehouse::transcode::print_options;

namespace {

pb::util::TypeResolver& resolver() {
    static std::unique_ptr<pb::util::TypeResolver> r(
        pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &gatehouse::testing::pb_json_pool()));
    return *r;
}

const pb::Descriptor* message_type() { return gatehouse::testing::pb_json_pool().FindMessageTypeByName("pbj.M"); }

std::string wire_of(const std::string& json) {
    std::string out;
    const auto st = pb::util::JsonToBinaryString(&resolver(), "type.googleapis.com/pbj.M", json, &out);
    EXPECT_TRUE(st.ok()) << json << ": " << st.message();
    return out;
}

// Each print option (always_print_primitive_fields aside: the walk leaves it to libprotobuf).
// Returns whether the walk took the message in every one.
bool expect_same_json(const std::string& wire, const std::string& what) {
    bool all = true;
    for (int bits = 0; bits < 4; ++bits) {
        print_options print;
        print.add_whitespace = bits & 1;
        print.preserve_proto_field_names = bits & 2;
        pb::util::JsonPrintOptions options;
        options.add_whitespace = print.add_whitespace;
        options.preserve_proto_field_names = print.preserve_proto_field_names;
        std::string theirs, ours;
        const auto st = pb::util::BinaryToJsonString(&resolver(), "type.googleapis.com/pbj.M", wire, &theirs, options);
        const bool walked = gatehouse::transcode::decode_json(message_type(), wire, print, ours);
        all = all && walked;
        if (!walked) continue;
        EXPECT_TRUE(st.ok()) << what << ": walked, but libprotobuf: " << st.message();
        EXPECT_EQ(ours, theirs) << what << " (options " << bits << ")";
    }
    return all;
}

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out += static_cast<char>(v | 0x80);
        v >>= 7;
    }
    out += static_cast<char>(v);
}
std::string field(int number, int wire_type, std::string_view payload) {
    std::string out;
    put_varint(out, static_cast<std::uint64_t>(number) << 3 | static_cast<unsigned>(wire_type));
    if (wire_type == 2) put_varint(out, payload.size());
    return out + std::string(payload);
}
std::string varint(std::uint64_t v) {
    std::string out;
    put_varint(out, v);
    return out;
}
template <typename T>
std::string fixed(T v) {
    std::string out(sizeof v, '\0');
    std::memcpy(out.data(), &v, sizeof v);
    return out;
}

TEST(PbJsonDecode, MessagesPrintAsLibprotobufPrintsThem) {
    for (const char* json : gatehouse::testing::k_scalar_documents) EXPECT_TRUE(expect_same_json(wire_of(json), json)) << json << ": declined";
    for (const char* json : {
             R"({"i64":"9223372036854775807","u64":"18446744073709551615","s64":"-9223372036854775808","f64":"18446744073709551615"})",
             R"({"d":1.5,"f":1.5,"rd":[-0.0,0.1,1e308,5e-324,1e21,1e-7,123456789012,"NaN","Infinity","-Infinity"]})",
             R"({"rf":[0.1,3.4028234e38,1e-45,16777217,0.3,"NaN","-Infinity",1e10]})",
             R"({"b":true,"s":"hello \"x\" <a> & \\ / '","by":"AAEC","rby":["","QQ==","QUI=","QUJD","/+8="]})",
             R"({"e":"BLUE","re":["RED","BLUE",1,7,-3]})", R"({"e":7})",
             R"({"sub":{},"rsub":[{},{"i32":2,"sub":{"s":"deep"}}],"ri":[1,2,-3],"rs":["a","","b"]})",
             R"({"msi":{"a":1,"b":0},"mim":{"-5":{"i32":1},"0":{},"9223372036854775807":{"s":"x"}}})",
             R"({"mbs":{"true":"t","false":""},"mue":{"1":"BLUE","4294967295":0,"7":9},"msm":{"-2147483648":"min"}})",
             R"({"oa":"x","oi":0,"renamed":5,"snakeCaseName":"y"})",
             R"({"s":"b","i32":1,"sub":{"b":true},"i64":"5"})",
             R"({"ri64":["-1","0","9223372036854775807"],"ru64":["18446744073709551615","1"],"rb":[true,false,true]})",
             R"({"rs64":["-9223372036854775808","5"],"rf32":[0,4294967295],"rsf64":["-1","9223372036854775807"]})",
             R"({"mid":{"-2147483648":1.5,"0":-0.0,"7":"NaN"},"mfb":{"18446744073709551615":"QUI=","0":""}})",
             R"({"msf":{"-1":"-9223372036854775808","2147483647":"7"}})",
         }) {
        EXPECT_TRUE(expect_same_json(wire_of(json), json)) << json << ": declined";
    }
}

TEST(PbJsonDecode, WireFormsLibprotobufTakes) {
    // Packed and unpacked lists, fields out of number order, unknown fields (dropped), an unknown
    // enum number, negative int32 as ten bytes.
    std::string packed = varint(1) + varint(300) + varint(0xffffffffffffffffull);
    EXPECT_TRUE(expect_same_json(field(18, 2, packed), "packed"));
    EXPECT_TRUE(expect_same_json(field(14, 2, "z") + field(1, 0, varint(5)) + field(999, 0, varint(1)) + field(1000, 2, "junk") +
                                     field(1001, 5, fixed<std::uint32_t>(1)) + field(1002, 1, fixed<std::uint64_t>(1)),
                                 "unknown fields"));
    EXPECT_TRUE(expect_same_json(field(16, 0, varint(42)) + field(1, 0, varint(0xffffffffffffffffull)), "unknown enum"));
    EXPECT_TRUE(expect_same_json(field(29, 2, fixed(1.25) + fixed(-2.0)) + field(32, 2, fixed(1.25f)), "packed floats"));
    // Every printable ASCII character in a string, and in a map key.
    std::string ascii;
    for (char c = 0x20; c < 0x7f; ++c) ascii += c;
    EXPECT_TRUE(expect_same_json(field(14, 2, ascii), "ascii"));
    EXPECT_TRUE(expect_same_json(field(21, 2, field(1, 2, ascii) + field(2, 0, varint(3))), "ascii key"));
}

// Every code point the walk writes as it is, libprotobuf writes as it is too (in batches of 4096
// to keep it quick), and control characters escaped alike.
TEST(PbJsonDecode, StringsOfEveryCodePointPrintAsLibprotobufPrintsThem) {
    std::string controls;
    for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
    EXPECT_TRUE(expect_same_json(field(14, 2, controls + "\x7f"), "controls"));
    const auto utf8 = [](std::uint32_t cp) {
        std::string out;
        if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        }
        out += static_cast<char>(0x80 | (cp & 0x3f));
        return out;
    };
    std::string batch, json;
    std::size_t taken = 0;
    for (std::uint32_t cp = 0x80; cp <= 0x10ffff; ++cp) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const auto one = utf8(cp);
        if (!gatehouse::transcode::decode_json(message_type(), field(14, 2, one), {}, json)) continue;
        batch += one;
        ++taken;
        if (taken % 4096 == 0 || cp == 0x10ffff) {
            EXPECT_TRUE(expect_same_json(field(14, 2, batch), "code points up to " + std::to_string(cp)));
            batch.clear();
        }
    }
    EXPECT_GT(taken, 900000u);  // all but the few escaped ones and planes 14 to 16
}

// Nested messages: what the walk takes libprotobuf prints alike; deeper than its bound, declined.
TEST(PbJsonDecode, DeepNestingIsTakenOrDeclinedAsLibprotobufWould) {
    for (int depth : {1, 10, 30, 31, 40, 63, 64, 65, 100}) {
        std::string wire = field(1, 0, varint(7));
        for (int i = 0; i < depth; ++i) wire = field(17, 2, wire);
        expect_same_json(wire, "depth " + std::to_string(depth));
    }
    std::string wire;
    for (int i = 0; i < 20; ++i) wire = field(17, 2, wire);
    EXPECT_TRUE(expect_same_json(wire, "depth 20"));
}

TEST(PbJsonDecode, DoublesAndFloatsPrintAsSimpleDtoaAndSimpleFtoa) {
    std::mt19937_64 random(7);
    std::string doubles, floats;
    for (int i = 0; i < 2000; ++i) {
        const std::uint64_t bits = random();
        double d = 0;
        std::memcpy(&d, &bits, sizeof d);
        doubles += fixed(d);
        doubles += fixed(static_cast<double>(static_cast<std::int64_t>(bits) % 100000) / 1000.0);
        const auto bits32 = static_cast<std::uint32_t>(bits);
        float f = 0;
        std::memcpy(&f, &bits32, sizeof f);
        floats += fixed(f);
        floats += fixed(static_cast<float>(static_cast<std::int64_t>(bits) % 100000) / 100.0f);
    }
    EXPECT_TRUE(expect_same_json(field(29, 2, doubles), "doubles"));
    EXPECT_TRUE(expect_same_json(field(32, 2, floats), "floats"));
}

TEST(PbJsonDecode, WhatLibprotobufMightPrintOtherwiseIsDeclined) {
    std::string json;
    print_options print;
    const auto declined = [&](const std::string& wire) { return !gatehouse::transcode::decode_json(message_type(), wire, print, json); };
    EXPECT_TRUE(declined(field(1, 0, varint(1)) + field(2, 0, varint(1)) + field(1, 0, varint(2))));  // a field twice, apart
    EXPECT_TRUE(declined(field(14, 2, "caf\xff")));                                              // not UTF-8
    EXPECT_TRUE(declined(field(14, 2, "\xed\xa0\x80")));                                          // a surrogate
    EXPECT_TRUE(declined(field(14, 2, "\xe2\x80\xa8")));                                          // U+2028: libprotobuf escapes it
    EXPECT_TRUE(declined(field(1, 2, "x")));                                                      // the wrong wire type
    EXPECT_TRUE(declined(std::string("\x08", 1)));                                                // cut short
    EXPECT_TRUE(declined(field(21, 2, field(2, 0, varint(3)))));                                  // a map entry without its key
    print.always_print_primitive_fields = true;
    EXPECT_TRUE(declined(""));
}

}  // namespace
