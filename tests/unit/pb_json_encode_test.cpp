// transcode::encode_json against libprotobuf's JsonToBinaryString (the path it replaces), input by
// input: when the walk takes a JSON text, libprotobuf must take it too and write the same bytes;
// texts libprotobuf refuses the walk must decline (the caller then asks libprotobuf for the 400).
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <memory>
#include <string>

#include "../fuzz/pb_json_schema.hpp"
#include "json/tape.hpp"
#include "transcode/pb_json_encode.hpp"

namespace pb = google::protobuf;
using gatehouse::json_tape::tape;

namespace {

struct outcome {
    bool walked = false;
    bool libprotobuf_ok = false;
    std::string walk_bytes, libprotobuf_bytes, libprotobuf_error;
};

outcome both(std::string_view json) {
    const auto& pool = gatehouse::testing::pb_json_pool();
    static std::unique_ptr<pb::util::TypeResolver> resolver(pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &pool));
    outcome o;
    tape t;
    if (gatehouse::transcode::parse_body(json, 64, t))
        o.walked = gatehouse::transcode::encode_json(pool.FindMessageTypeByName("pbj.M"), t.root(), o.walk_bytes);
    const auto status = pb::util::JsonToBinaryString(resolver.get(), "type.googleapis.com/pbj.M", std::string(json), &o.libprotobuf_bytes);
    o.libprotobuf_ok = status.ok();
    o.libprotobuf_error = std::string(status.message());
    return o;
}

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
        out += ' ';
    }
    return out;
}

// The walk takes `json` and writes libprotobuf's bytes.
void expect_same(std::string_view json) {
    const auto o = both(json);
    EXPECT_TRUE(o.libprotobuf_ok) << json << ": libprotobuf: " << o.libprotobuf_error;
    EXPECT_TRUE(o.walked) << json << ": declined";
    if (o.walked && o.libprotobuf_ok) {
        EXPECT_EQ(hex(o.walk_bytes), hex(o.libprotobuf_bytes)) << json;
    }
}

// When the walk takes `json`, libprotobuf takes it too and writes the same bytes (the fuzz
// target's property).
void expect_consistent(std::string_view json) {
    const auto o = both(json);
    if (!o.walked) return;
    EXPECT_TRUE(o.libprotobuf_ok) << json << ": walked, but libprotobuf: " << o.libprotobuf_error;
    EXPECT_EQ(hex(o.walk_bytes), hex(o.libprotobuf_bytes)) << json;
}

// libprotobuf refuses `json`, and the walk declines it.
void expect_refused(std::string_view json) {
    const auto o = both(json);
    EXPECT_FALSE(o.libprotobuf_ok) << json << ": libprotobuf took it: " << hex(o.libprotobuf_bytes);
    EXPECT_FALSE(o.walked) << json << ": walked: " << hex(o.walk_bytes);
}

TEST(PbJsonEncode, ScalarsWriteLibprotobufsBytes) {
    for (const char* json : gatehouse::testing::k_scalar_documents) expect_same(json);
    for (const char* json : {
             R"({"i64":"9223372036854775807","u64":"18446744073709551615","s64":"-9223372036854775808","f64":18446744073709551615})",
             R"({"i64":9223372036854775807,"sf64":-9223372036854775808,"u64":18446744073709551615})",
             R"({"i32":"-17","u32":"17","s32":"123","f32":"4294967295","sf32":"-2147483648"})",
             R"({"i32":1.0,"i64":1e3,"u32":2.5e1,"s32":-0.0})",
             R"({"d":1.5,"f":1.5,"rd":[-0.0]})",
             R"({"d":0.1,"f":0.1,"rd":[1e308,5e-324],"rf":[3.4028234e38,1e-45]})",
             R"({"d":"NaN","f":"Infinity"})",
             R"({"d":"-Infinity","f":"-Infinity"})",
             R"({"d":"1.25","f":"-2.5e3"})",
             R"({"d":123456789,"f":1234567})",
             R"({"b":true,"s":"h\u00e9llo \"x\"","by":"AAEC"})",
             R"({"by":"_-8="})",
             R"({"by":"/+8="})",
             R"({"by":"QUJD"})",
             R"({"by":"QUI="})",
             R"({"by":"QUI"})",
             R"({"by":"QQ=="})",
             R"({"by":"QQ"})",
             R"({"e":"BLUE"})",
             R"({"e":2})",
             R"({"e":7})",
             R"({"e":-3})",
             R"({"renamed":5})",
             R"({"json_custom":5})",
             R"({"snakeCaseName":"a"})",
             R"({"snake_case_name":"a"})",
             R"({"oi":0})",
             R"({"oi":3})",
             R"({"oa":""})",
             R"({"ob":0})",
             R"({"i32":null,"s":null,"sub":null,"ri":null,"msi":null,"e":null,"oi":null})",
         })
        expect_same(json);
}

TEST(PbJsonEncode, MessagesListsAndMapsWriteLibprotobufsBytes) {
    for (const char* json : {
             R"({"sub":{}})",
             R"({"sub":{"i32":1,"sub":{"s":"deep"}}})",
             R"({"rsub":[{},{"i32":2}]})",
             R"({"ri":[1,2,-3],"rs":["a","","b"]})",
             R"({"ri":[]})",
             R"({"rd":[1.5,"NaN",0],"re":["RED","BLUE",1],"rf":[0.5],"rby":["AA==",""]})",
             R"({"msi":{"a":1,"b":0,"":-1}})",
             R"({"mim":{"-5":{"i32":1},"0":{},"9223372036854775807":{"s":"x"}}})",
             R"({"mbs":{"true":"t","false":""}})",
             R"({"mue":{"1":"BLUE","4294967295":0}})",
             R"({"msm":{"-2147483648":"min","7":"seven"}})",
             R"({"msi":{}})",
             R"({"ri64":["-1",0,"9223372036854775807"],"ru64":["18446744073709551615",1],"rb":[true,false]})",
             R"({"rs64":["-9223372036854775808",5],"rf32":[0,4294967295],"rsf64":["-1","9223372036854775807"]})",
             R"({"mid":{"-2147483648":1.5,"0":-0.0,"7":"NaN"},"mfb":{"18446744073709551615":"QUI=","0":""}})",
             R"({"msf":{"-1":"-9223372036854775808","2147483647":7}})",
             R"({"s":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"})",
             R"({"sub":{"s":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"},"i32":1})",
             R"({"s":"b","i32":1,"sub":{"b":true},"i64":"5"})",
         })
        expect_same(json);
}

TEST(PbJsonEncode, WhatLibprotobufRefusesIsDeclined) {
    for (const char* json : {
             R"({"nope":1})",
             R"({"sub":{"nope":1}})",
             R"({"i32":2147483648})",
             R"({"i32":-2147483649})",
             R"({"u32":-1})",
             R"({"u32":4294967296})",
             R"({"u64":-1})",
             R"({"i64":9223372036854775808})",
             R"({"i32":1.5})",
             R"({"i32":"1.5"})",
             R"({"i32":"x"})",
             R"({"i32":true})",
             R"({"i32":""})",
             R"({"b":1})",
             R"({"s":1})",
             R"({"s":true})",
             R"({"e":"PURPLE"})",
             R"({"e":true})",
             R"({"by":"!!"})",
             R"({"sub":1})",
             R"({"sub":[]})",
             R"({"ri":["a"]})",
             R"({"oa":"x","ob":1})",
             R"({"msi":{"a":"b"}})",
             R"({"mim":{"x":{}}})",
             R"({"mue":{"-1":0}})",
             R"({"f":1e39})",
             R"({"d":"1e400"})",
             R"([])",
             R"(1)",
             R"({)",
         })
        expect_refused(json);
}

// Spellings libprotobuf takes but the walk leaves to it (rare in requests, odd in its rules):
// a repeated member name, a string for a bool, one value for a list, "yes" as a bool key.
TEST(PbJsonEncode, RareSpellingsAreLeftToLibprotobuf) {
    for (const char* json : {R"({"i32":1,"i32":2})", R"({"b":"yes"})", R"({"b":"true"})", R"({"ri":1})", R"({"mbs":{"yes":"t"}})",
                             R"({"i32":"+5"})", R"({"d":"1e400"})"}) {
        EXPECT_FALSE(both(json).walked) << json;
    }
}

// Where the two JSON parsers could differ: a byte order mark, numbers past double's range or
// below its smallest, escapes (lone surrogates, NUL), control characters, white space.
TEST(PbJsonEncode, ParserCornersAgree) {
    for (const char* json : {"\xef\xbb\xbf{}", R"({"d":1e-400})", R"({"d":-1e-400})", R"({"s":"\ud800"})", R"({"s":"\udc00x"})",
                             R"({"s":"\ud83d\ude00 \u0000 \/ \b\f\n\r\t"})", " \t\r\n{ \"i32\" : 1 } \n", R"({"d":1E+2})",
                             R"({"i64":-0})", R"({"d":-0})", R"({"i32":01})", R"({"s":"\u00"})", "{\"s\":\"\x01\"}",
                             "{\"s\":\"\xc3\x28\"}", R"({"d":123456789012345678901234567890})", R"({"u64":1.8446744073709552e19})",
                             R"({"i64":-9.223372036854775808e18})", R"({"f":3.4028235677973366e38})", R"({"f":1e-46})"}) {
        expect_consistent(json);
    }
}

// Nested objects up to the walk's parse bound (64) and past it.
TEST(PbJsonEncode, DeepNestingAgrees) {
    for (int depth : {1, 10, 30, 50, 62, 63, 64, 65, 100, 200}) {
        std::string json = R"({"i32":7})";
        for (int i = 0; i < depth; ++i) json = R"({"sub":)" + json + "}";
        expect_consistent(json);
    }
}

}  // namespace
