#pragma once
// The REST face of gRPC services: a descriptor set (protoc --include_imports
// --descriptor_set_out) loaded into its own DescriptorPool, and the google.api.http rules of the
// named services' methods (every binding, additional_bindings included) matched against a
// request's method and path. Immutable once loaded; workers share it through a shared_ptr.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transcode/http_template.hpp"

namespace google::protobuf {
class DescriptorPool;
class MethodDescriptor;
namespace util {
class TypeResolver;
}
}  // namespace google::protobuf

namespace gatehouse::transcode {

// One HTTP binding of a gRPC method.
struct binding {
    std::string http_method;  // "GET", "POST", ... or a custom rule's kind, upper-case as given
    std::string path_text;    // the template as written, for messages
    http_template path;
    std::string body;           // "": no body; "*": the whole message; else a field path
    std::string response_body;  // "": the whole response message; else a field name
    const google::protobuf::MethodDescriptor* method = nullptr;
    std::string grpc_path;  // "/bookstore.Bookstore/GetBook"
    bool server_streaming = false;
    // The request type has no well-known type anywhere in it: a JSON body is written to the wire
    // by our own walk (pb_json_encode), not by libprotobuf's JsonToBinaryString. Decided at load.
    bool walk_request = false;
    // The same for the response type: its messages become JSON by pb_json_decode's walk.
    bool walk_response = false;
};

class service_set {
public:
    // Reads the descriptor set at `path`. nullptr and the reason in `error` when the file cannot
    // be read or parsed, a file of it does not build, a service is not in it, or a rule of a
    // service's method is malformed (a bad template, a field it names that the message lacks).
    static std::shared_ptr<const service_set> load(const std::string& path, const std::vector<std::string>& services, std::string& error);
    // The same from the bytes of a FileDescriptorSet.
    static std::shared_ptr<const service_set> from_bytes(std::string_view bytes, const std::vector<std::string>& services, std::string& error);

    ~service_set();
    service_set(const service_set&) = delete;
    service_set& operator=(const service_set&) = delete;

    // The binding for a request: the method must be equal, the path (no query) match; of several
    // the one with the most literal segments, the first declared on a tie. Null: none.
    const binding* match(std::string_view method, std::string_view path, bound_values& values) const;

    const std::vector<binding>& bindings() const { return bindings_; }
    const google::protobuf::DescriptorPool& pool() const { return *pool_; }
    google::protobuf::util::TypeResolver& resolver() const { return *resolver_; }

private:
    service_set();
    bool build(std::string_view bytes, const std::vector<std::string>& services, std::string& error);

    std::unique_ptr<google::protobuf::DescriptorPool> pool_;
    std::unique_ptr<google::protobuf::util::TypeResolver> resolver_;
    std::vector<binding> bindings_;
};

// "type.googleapis.com/" + the message's full name: what the TypeResolver is asked for.
std::string type_url(std::string_view full_name);

}  // namespace gatehouse::transcode
