// api_key: a key from a header or query parameter, checked against SHA-256 hashes of the valid
// keys (from the config or a watched file), each mapped to a consumer name sent upstream.
#include <unordered_map>

#include "gatehouse/config/middleware_spec.hpp"
#include "middleware/common.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware {

namespace {

struct api_key_spec final : config::middleware_spec {
    std::vector<credential_source> sources;
    std::unordered_map<std::string, std::string, util::string_hash, std::equal_to<>> consumers;  // sha256 hex -> consumer
    std::string consumer_header = "x-consumer";
    bool forward_key = false;

    std::shared_ptr<const middleware> build(build_services&, config::diagnostics&) const override;
};

class api_key final : public middleware {
public:
    explicit api_key(api_key_spec s) : spec_(std::move(s)) {}

    verdict on_request(request_context& ctx, local_reply& reply) const override {
        ctx.remove_upstream_header(spec_.consumer_header);  // never trust a client's own copy
        auto key = find_credential(ctx, spec_.sources);
        if (!key) {
            reply = {401, "missing API key", {}};
            return verdict::reply;
        }
        char hex[64];
        auto it = spec_.consumers.find(sha256_hex(*key, hex));
        if (it == spec_.consumers.end()) {
            reply = {401, "invalid API key", {}};
            return verdict::reply;
        }
        ctx.subject = it->second;
        ctx.add_upstream_header(spec_.consumer_header, it->second);
        if (!spec_.forward_key) hide_credential(ctx, spec_.sources);
        return verdict::next;
    }

private:
    api_key_spec spec_;
};

std::shared_ptr<const middleware> api_key_spec::build(build_services&, config::diagnostics&) const {
    return std::make_shared<api_key>(*this);
}

bool add_keys(const YAML::Node& list, const std::string& path, config::diagnostics& d, api_key_spec& spec) {
    if (!list.IsSequence()) {
        d.error(mark(list), path, "expected a list of { consumer: NAME, sha256: HEX }");
        return false;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
        std::string ep = path + "[" + std::to_string(i) + "]";
        config::map_reader r(list[i], ep, d, {"consumer", "sha256"});
        auto consumer = r.string("consumer");
        auto hash = r.string("sha256");
        if (!consumer || consumer->empty()) d.error(mark(list[i]), ep + ".consumer", "required");
        else if (!valid_header_value(*consumer)) r.error("consumer", "must not contain control characters");
        if (!hash) d.error(mark(list[i]), ep + ".sha256", "required: the SHA-256 of the key in hex (printf %s KEY | sha256sum)");
        else if (hash->size() != 64 || hash->find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            r.error("sha256", "expected 64 hex digits");
        else if (consumer) spec.consumers[util::ascii_lower(*hash)] = *consumer;
        r.finish();
    }
    return true;
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node&) {
    auto spec = std::make_shared<api_key_spec>();
    config::map_reader r(n, path, d, {"sources", "keys", "keys_file", "consumer_header", "forward_key"});
    if (!r.ok()) return nullptr;
    if (r.has("sources")) spec->sources = parse_sources(r.get("sources"), r.child_path("sources"), d);
    else spec->sources.push_back({credential_source::kind::header, "x-api-key"});
    for (auto& s : spec->sources)
        if (s.where == credential_source::kind::cookie || s.where == credential_source::kind::bearer)
            r.error("sources", "API keys come from a header or a query parameter");
    if (r.has("keys")) add_keys(r.get("keys"), r.child_path("keys"), d, *spec);
    if (auto f = r.string("keys_file")) {
        spec->watched_files.push_back(*f);
        if (auto text = read_text_file(*f, r.child_path("keys_file"), mark(r.get("keys_file")), d)) {
            try {
                auto doc = YAML::Load(*text);
                config::diagnostics fd(*f);
                add_keys(doc, "", fd, *spec);
                for (auto& x : fd.all()) d.error(mark(r.get("keys_file")), r.child_path("keys_file"), x.to_string());
            } catch (const YAML::Exception& e) {
                r.error("keys_file", *f + ": " + e.what());
            }
        }
    }
    if (!r.has("keys") && !r.has("keys_file")) d.error(mark(n), path, "needs keys or keys_file");
    if (auto h = r.string("consumer_header")) {
        if (!is_header_name(*h)) r.error("consumer_header", "not a header name");
        spec->consumer_header = util::ascii_lower(*h);
    }
    if (auto f = r.boolean("forward_key")) spec->forward_key = *f;
    r.finish();
    return spec;
}

}  // namespace

void register_api_key() { config::register_middleware_type("api_key", parse); }

}  // namespace gatehouse::middleware
