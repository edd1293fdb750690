#include "transcode/service_set.hpp"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/type.pb.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <set>
#include <unordered_map>

#include "transcode/field_path.hpp"
#include "transcode/pb_json_encode.hpp"
#include "util/read_file.hpp"

namespace gatehouse::transcode {
namespace pb = google::protobuf;
namespace {

constexpr int k_http_extension = 72295728;  // google.api.http on google.protobuf.MethodOptions
constexpr std::string_view k_type_prefix = "type.googleapis.com";

// The TypeResolver the JSON conversions ask: every type of the set resolved once at load (the
// pool's resolver builds each google.protobuf.Type from its descriptor again on every call, and
// every translated call asks for its types anew). Read-only once built, so every worker shares it.
class resolved_types final : public pb::util::TypeResolver {
public:
    explicit resolved_types(std::unique_ptr<pb::util::TypeResolver> inner) : inner_(std::move(inner)) {}

    pb::util::Status ResolveMessageType(const std::string& url, pb::Type* type) override {
        if (const auto it = messages_.find(url); it != messages_.end()) {
            *type = it->second;
            return {};
        }
        return inner_->ResolveMessageType(url, type);
    }
    pb::util::Status ResolveEnumType(const std::string& url, pb::Enum* type) override {
        if (const auto it = enums_.find(url); it != enums_.end()) {
            *type = it->second;
            return {};
        }
        return inner_->ResolveEnumType(url, type);
    }

    void add_file(const pb::FileDescriptor& f) {
        for (int i = 0; i < f.message_type_count(); ++i) add_message(*f.message_type(i));
        for (int i = 0; i < f.enum_type_count(); ++i) add_enum(*f.enum_type(i));
    }

private:
    void add_message(const pb::Descriptor& d) {
        const auto url = type_url(d.full_name());
        if (inner_->ResolveMessageType(url, &messages_[url]).ok() == false) messages_.erase(url);
        for (int i = 0; i < d.nested_type_count(); ++i) add_message(*d.nested_type(i));
        for (int i = 0; i < d.enum_type_count(); ++i) add_enum(*d.enum_type(i));
    }
    void add_enum(const pb::EnumDescriptor& e) {
        const auto url = type_url(e.full_name());
        if (inner_->ResolveEnumType(url, &enums_[url]).ok() == false) enums_.erase(url);
    }

    std::unique_ptr<pb::util::TypeResolver> inner_;
    std::unordered_map<std::string, pb::Type> messages_;
    std::unordered_map<std::string, pb::Enum> enums_;
};

class collect_errors : public pb::DescriptorPool::ErrorCollector {
public:
    void AddError(const std::string& file, const std::string& element, const pb::Message*, ErrorLocation, const std::string& message) override {
        if (!text.empty()) text += "; ";
        text += file + ": " + element + ": " + message;
    }
    std::string text;
};

// google/rpc/status.proto, for the details of a gRPC error (grpc-status-details-bin), when the
// set does not bring its own.
pb::FileDescriptorProto rpc_status_file() {
    pb::FileDescriptorProto f;
    f.set_name("google/rpc/status.proto");
    f.set_package("google.rpc");
    f.set_syntax("proto3");
    f.add_dependency("google/protobuf/any.proto");
    auto* m = f.add_message_type();
    m->set_name("Status");
    auto add = [m](const char* name, int number, pb::FieldDescriptorProto::Type type, const char* json) {
        auto* field = m->add_field();
        field->set_name(name);
        field->set_json_name(json);
        field->set_number(number);
        field->set_type(type);
        field->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
        return field;
    };
    add("code", 1, pb::FieldDescriptorProto::TYPE_INT32, "code");
    add("message", 2, pb::FieldDescriptorProto::TYPE_STRING, "message");
    auto* details = add("details", 3, pb::FieldDescriptorProto::TYPE_MESSAGE, "details");
    details->set_label(pb::FieldDescriptorProto::LABEL_REPEATED);
    details->set_type_name(".google.protobuf.Any");
    return f;
}

// Builds every file once all of its imports are built (protoc writes them in that order with
// --include_imports, but a set may come from elsewhere).
bool build_files(pb::DescriptorPool& pool, std::vector<pb::FileDescriptorProto> files, std::string& error) {
    std::set<std::string> built;
    while (!files.empty()) {
        bool progress = false;
        for (auto it = files.begin(); it != files.end();) {
            bool ready = true;
            for (const auto& dep : it->dependency()) ready = ready && built.count(dep) > 0;
            if (!ready) {
                ++it;
                continue;
            }
            collect_errors errors;
            if (pool.BuildFileCollectingErrors(*it, &errors) == nullptr) {
                error = "the descriptor set does not build: " + errors.text;
                return false;
            }
            built.insert(it->name());
            it = files.erase(it);
            progress = true;
        }
        if (!progress) {
            error = "the descriptor set lacks an import of " + files.front().name() + " (protoc --include_imports)";
            return false;
        }
    }
    return true;
}

std::string upper(std::string s) {
    for (auto& c : s) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
}

// The google.api.HttpRule bytes of a method, from its options' unknown fields (the pool's
// MethodOptions is the compiled one, which does not know the extension). Empty: no rule.
std::string http_rule_bytes(const pb::MethodDescriptor& method) {
    const auto& options = method.options();
    const auto& unknown = options.GetReflection()->GetUnknownFields(options);
    for (int i = 0; i < unknown.field_count(); ++i) {
        const auto& f = unknown.field(i);
        if (f.number() == k_http_extension && f.type() == pb::UnknownField::TYPE_LENGTH_DELIMITED) return f.length_delimited();
    }
    return {};
}

class rule_reader {
public:
    rule_reader(const pb::MethodDescriptor& method, std::vector<binding>& out, std::string& error)
        : method_(method), out_(out), error_(error) {}

    // One HttpRule message and its additional_bindings (which have none of their own).
    bool read(const pb::Message& rule, bool top) {
        const auto* d = rule.GetDescriptor();
        const auto* r = rule.GetReflection();
        binding b;
        for (const char* verb : {"get", "put", "post", "delete", "patch"}) {
            const auto* f = d->FindFieldByName(verb);
            if (f != nullptr && r->HasField(rule, f)) {
                b.http_method = upper(verb);
                b.path_text = r->GetString(rule, f);
            }
        }
        if (const auto* custom = d->FindFieldByName("custom"); custom != nullptr && r->HasField(rule, custom)) {
            const auto& pattern = r->GetMessage(rule, custom);
            const auto* pd = pattern.GetDescriptor();
            b.http_method = upper(pattern.GetReflection()->GetString(pattern, pd->FindFieldByName("kind")));
            b.path_text = pattern.GetReflection()->GetString(pattern, pd->FindFieldByName("path"));
        }
        b.body = r->GetString(rule, d->FindFieldByName("body"));
        b.response_body = r->GetString(rule, d->FindFieldByName("response_body"));
        if (!b.http_method.empty() && !add(std::move(b))) return false;
        if (!top) return true;
        const auto* more = d->FindFieldByName("additional_bindings");
        for (int i = 0; i < r->FieldSize(rule, more); ++i) {
            if (!read(r->GetRepeatedMessage(rule, more, i), false)) return false;
        }
        return true;
    }

private:
    bool add(binding b) {
        std::string why;
        const std::string where = method_.full_name() + " (" + b.http_method + " " + b.path_text + "): ";
        auto path = parse_http_template(b.path_text, why);
        if (!path) return fail(where + "the path template: " + why);
        field_chain chain;
        for (const auto& v : path->variables) {
            if (!resolve_field_path(method_.input_type(), v.field_path, chain, why)) return fail(where + why);
            if (chain.back()->is_repeated()) return fail(where + "'" + v.field_path + "' is repeated: a path variable sets one value");
        }
        if (!b.body.empty() && b.body != "*" && !resolve_field_path(method_.input_type(), b.body, chain, why)) return fail(where + "body: " + why);
        if (!b.response_body.empty()) {
            if (!resolve_field_path(method_.output_type(), b.response_body, chain, why)) return fail(where + "response_body: " + why);
            if (chain.size() != 1) return fail(where + "response_body names a field of the response itself");
        }
        b.path = std::move(*path);
        b.method = &method_;
        b.grpc_path = "/" + method_.service()->full_name() + "/" + method_.name();
        b.server_streaming = method_.server_streaming();
        b.walk_request = walkable(method_.input_type());
        b.walk_response = walkable(method_.output_type());
        out_.push_back(std::move(b));
        return true;
    }

    bool fail(std::string why) {
        error_ = std::move(why);
        return false;
    }

    const pb::MethodDescriptor& method_;
    std::vector<binding>& out_;
    std::string& error_;
};

}  // namespace

std::string type_url(std::string_view full_name) {
    std::string url(k_type_prefix);
    url += '/';
    url += full_name;
    return url;
}

service_set::service_set() : pool_(std::make_unique<pb::DescriptorPool>()) {}
service_set::~service_set() = default;

std::shared_ptr<const service_set> service_set::load(const std::string& path, const std::vector<std::string>& services, std::string& error) {
    const auto bytes = util::read_file(path);
    if (!bytes) {
        error = "cannot read the descriptor set " + path;
        return nullptr;
    }
    return from_bytes(*bytes, services, error);
}

std::shared_ptr<const service_set> service_set::from_bytes(std::string_view bytes, const std::vector<std::string>& services, std::string& error) {
    std::shared_ptr<service_set> set(new service_set());
    if (!set->build(bytes, services, error)) return nullptr;
    return set;
}

bool service_set::build(std::string_view bytes, const std::vector<std::string>& services, std::string& error) {
    pb::FileDescriptorSet set;
    if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        error = "not a FileDescriptorSet (protoc --include_imports --descriptor_set_out)";
        return false;
    }
    std::vector<pb::FileDescriptorProto> files(set.file().begin(), set.file().end());
    std::set<std::string> names;
    bool has_status = false;
    for (const auto& f : files) {
        names.insert(f.name());
        if (f.package() != "google.rpc") continue;
        for (const auto& m : f.message_type()) has_status = has_status || m.name() == "Status";
    }
    if (!has_status) {
        if (names.count("google/protobuf/any.proto") == 0) {
            files.emplace_back();
            pb::Any::descriptor()->file()->CopyTo(&files.back());
        }
        if (names.count("google/rpc/status.proto") == 0) files.push_back(rpc_status_file());
    }
    std::vector<std::string> file_names;
    for (const auto& f : files) file_names.push_back(f.name());
    if (!build_files(*pool_, std::move(files), error)) return false;
    auto resolver = std::make_unique<resolved_types>(
        std::unique_ptr<pb::util::TypeResolver>(pb::util::NewTypeResolverForDescriptorPool(std::string(k_type_prefix), pool_.get())));
    for (const auto& name : file_names)
        if (const auto* f = pool_->FindFileByName(name)) resolver->add_file(*f);
    resolver_ = std::move(resolver);

    const auto* rule_type = pool_->FindMessageTypeByName("google.api.HttpRule");
    pb::DynamicMessageFactory factory(pool_.get());
    for (const auto& name : services) {
        const auto* service = pool_->FindServiceByName(name);
        if (service == nullptr) {
            error = "the service " + name + " is not in the descriptor set";
            return false;
        }
        for (int i = 0; i < service->method_count(); ++i) {
            const auto& method = *service->method(i);
            const std::string bytes_of_rule = http_rule_bytes(method);
            if (bytes_of_rule.empty()) continue;
            if (rule_type == nullptr) {
                error = method.full_name() + " has a google.api.http rule, but the set lacks google/api/http.proto (protoc --include_imports)";
                return false;
            }
            std::unique_ptr<pb::Message> rule(factory.GetPrototype(rule_type)->New());
            if (!rule->ParseFromString(bytes_of_rule)) {
                error = method.full_name() + ": its google.api.http option does not parse";
                return false;
            }
            if (!rule_reader(method, bindings_, error).read(*rule, true)) return false;
        }
    }
    return true;
}

const binding* service_set::match(std::string_view method, std::string_view path, bound_values& values) const {
    const binding* best = nullptr;
    bound_values candidate;
    for (const auto& b : bindings_) {
        if (b.http_method != method || !match_http_template(b.path, path, candidate)) continue;
        if (best != nullptr && b.path.literal_count() <= best->path.literal_count()) continue;
        best = &b;
        values.swap(candidate);
    }
    return best;
}

}  // namespace gatehouse::transcode
