// The REST-to-gRPC request walk (transcode::parse_body + encode_json: a JSON body written to the
// protobuf wire format over the descriptors), differential against libprotobuf's
// JsonToBinaryString, the path it replaces and falls back to: whatever text the walk takes,
// libprotobuf takes too and writes the same bytes (what libprotobuf refuses, the walk declines).
// The message (pb_json_schema.hpp) has a field of every kind. Input: the JSON text.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <memory>
#include <string>

#include "fuzz_check.hpp"
#include "json/tape.hpp"
#include "pb_json_schema.hpp"
#include "transcode/pb_json_encode.hpp"

using namespace gatehouse;
namespace pb = google::protobuf;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    const auto& pool = testing::pb_json_pool();
    static const std::unique_ptr<pb::util::TypeResolver> resolver(pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &pool));
    static const pb::Descriptor* type = pool.FindMessageTypeByName("pbj.M");
    json_tape::tape doc;
    std::string ours;
    if (!transcode::parse_body(text, 64, doc) || !transcode::encode_json(type, doc.root(), ours)) return 0;
    std::string theirs;
    const auto status = pb::util::JsonToBinaryString(resolver.get(), "type.googleapis.com/pbj.M", std::string(text.empty() ? "{}" : text), &theirs);
    if (!status.ok()) std::fprintf(stderr, "libprotobuf refused what the walk took: %s\n", std::string(status.message()).c_str());
    FUZZ_CHECK(status.ok());
    FUZZ_CHECK(ours == theirs);
    return 0;
}
