#include "config/transcode_loader.hpp"

namespace gatehouse::config {

std::shared_ptr<const transcode::transcode_config> read_grpc_transcode(const YAML::Node& n, const std::string& path, diagnostics& d) {
    map_reader r(n, path, d, {"descriptor_set", "services", "print", "ignore_unknown_query_parameters", "passthrough_unmatched"});
    if (!r.ok()) return nullptr;
    auto c = std::make_shared<transcode::transcode_config>();
    c->mark = mark_of(n);
    const auto file = r.string("descriptor_set");
    if (!file || file->empty()) d.error(c->mark, r.child_path("descriptor_set"), "required (protoc --include_imports --descriptor_set_out)");
    else c->descriptor_set = *file;
    if (auto s = r.string_list("services")) c->services = *s;
    if (c->services.empty() && !r.has("services")) d.error(c->mark, r.child_path("services"), "required: the full names of the gRPC services (package.Service)");
    else if (c->services.empty()) r.error("services", "name at least one service");
    if (r.has("print")) {
        map_reader p(r.get("print"), r.child_path("print"), d, {"add_whitespace", "always_print_primitive_fields", "preserve_proto_field_names"});
        if (p.ok()) {
            c->print.add_whitespace = p.boolean("add_whitespace").value_or(false);
            c->print.always_print_primitive_fields = p.boolean("always_print_primitive_fields").value_or(false);
            c->print.preserve_proto_field_names = p.boolean("preserve_proto_field_names").value_or(false);
            p.finish();
        }
    }
    c->ignore_unknown_query_parameters = r.boolean("ignore_unknown_query_parameters").value_or(false);
    c->passthrough_unmatched = r.boolean("passthrough_unmatched").value_or(false);
    r.finish();
    if (c->descriptor_set.empty() || c->services.empty()) return nullptr;
    std::string error;
    c->loaded = transcode::service_set::load(c->descriptor_set, c->services, error);
    if (!c->loaded) {
        // A service that is missing is the services key's fault; anything else the file's.
        const bool service_missing = error.find(" is not in the descriptor set") != std::string::npos;
        r.error(service_missing ? "services" : "descriptor_set", error);
        return nullptr;
    }
    return c;
}

}  // namespace gatehouse::config
