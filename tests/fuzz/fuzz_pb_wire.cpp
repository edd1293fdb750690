// The REST-to-gRPC response walk (transcode::decode_json: a message's protobuf wire bytes
// straight to JSON over the descriptors), differential against libprotobuf's BinaryToJsonString,
// the path it replaces and falls back to: whatever bytes the walk takes, libprotobuf takes too
// and prints the same text, for the print options the first byte picks. The message
// (pb_json_schema.hpp) has a field of every kind. Input: [options][wire bytes].
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <memory>
#include <string>

#include "fuzz_check.hpp"
#include "pb_json_schema.hpp"
#include "transcode/pb_json_decode.hpp"

using namespace gatehouse;
namespace pb = google::protobuf;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    const auto options = in.byte();
    const auto& pool = testing::pb_json_pool();
    static const std::unique_ptr<pb::util::TypeResolver> resolver(pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &pool));
    static const pb::Descriptor* type = pool.FindMessageTypeByName("pbj.M");
    transcode::print_options print;
    print.add_whitespace = options & 1;
    print.preserve_proto_field_names = options & 2;
    print.always_print_primitive_fields = options & 4;
    std::string ours;
    if (!transcode::decode_json(type, in.rest, print, ours)) return 0;
    FUZZ_CHECK(!print.always_print_primitive_fields);  // always left to libprotobuf
    pb::util::JsonPrintOptions theirs_options;
    theirs_options.add_whitespace = print.add_whitespace;
    theirs_options.preserve_proto_field_names = print.preserve_proto_field_names;
    std::string theirs;
    const auto status = pb::util::BinaryToJsonString(resolver.get(), "type.googleapis.com/pbj.M", std::string(in.rest), &theirs, theirs_options);
    if (!status.ok()) std::fprintf(stderr, "libprotobuf refused what the walk took: %s\n", std::string(status.message()).c_str());
    FUZZ_CHECK(status.ok());
    if (ours != theirs) std::fprintf(stderr, "ours:   %s\ntheirs: %s\n", ours.c_str(), theirs.c_str());
    FUZZ_CHECK(ours == theirs);
    return 0;
}
