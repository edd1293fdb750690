// compress: responses compressed on the fly for clients that accept it (gzip, br, zstd).
// The coding is the client's best-weighted one among `algorithms` (equal weights: the operator's
// order). A response is compressed when its media type is listed, it is not already encoded,
// not a range (206, Content-Range), not marked no-transform, and not known to be smaller than
// `min_bytes`. Every response of a listed type gets `Vary: Accept-Encoding`, compressed or not,
// so caches keep the forms apart; a strong ETag becomes weak (the bytes differ from the
// upstream's representation), Content-Length goes (the core frames the body) and Accept-Ranges
// goes (byte ranges of the compressed form are not offered).
#include "gatehouse/config/middleware_spec.hpp"
#include "grpc/content_type.hpp"
#include "middleware/common.hpp"
#include "middleware/compress/coding.hpp"
#include "middleware/compress/encoder.hpp"
#include "middleware/registry.hpp"
#include "middleware/yaml_reader_access.hpp"
#include "util/text.hpp"

#include <charconv>

namespace gatehouse::middleware {

namespace {

using compress::coding;

struct media_pattern {
    std::string type;     // "text" or "application"
    std::string subtype;  // "json", or empty for "text/*"
};

struct compress_spec final : config::middleware_spec {
    std::vector<media_pattern> types;
    std::uint64_t min_bytes = 1024;
    std::vector<coding> algorithms{coding::zstd, coding::br, coding::gzip};
    std::array<int, compress::k_codings> levels{compress::levels_of(coding::gzip).fallback, compress::levels_of(coding::br).fallback,
                                                compress::levels_of(coding::zstd).fallback};
    std::shared_ptr<const middleware> build(build_services&, config::diagnostics&) const override;
};

// The request's chosen coding, then the response's encoder (the body filter the core calls).
struct compress_state final : body_filter {
    coding chosen = coding::gzip;
    compress::encoder_lease enc;
    bool filter(std::string_view in, bool last, std::string& out) override { return enc->write(in, last, out); }
};

bool has_directive(std::string_view cache_control, std::string_view name) {
    while (!cache_control.empty()) {
        auto comma = cache_control.find(',');
        auto item = util::trim(cache_control.substr(0, comma));
        item = util::trim(item.substr(0, item.find('=')));
        if (http::iequals(item, name)) return true;
        cache_control = comma == std::string_view::npos ? std::string_view{} : cache_control.substr(comma + 1);
    }
    return false;
}

class compress_middleware final : public middleware {
public:
    explicit compress_middleware(compress_spec s) : spec_(std::move(s)) {}

    verdict on_request(request_context& ctx, local_reply&) const override {
        compress::accepted_codings accepted;
        bool any = false;
        for (auto& f : ctx.fields)
            if (f.name.size() == 15 && http::iequals(f.name, "accept-encoding")) {
                accepted.add(f.value);
                any = true;
            }
        if (!any) return verdict::next;
        if (auto c = accepted.choose(spec_.algorithms)) ctx.state<compress_state>().chosen = *c;
        return verdict::next;
    }

    void on_response_headers(request_context& ctx, response_edit& edit) const override {
        if (!eligible(edit)) return;
        add_vary(edit, "Accept-Encoding");
        auto* st = ctx.find_state<compress_state>();
        if (!st || too_small(edit)) return;
        st->enc = compress::acquire(st->chosen, spec_.levels[static_cast<std::size_t>(st->chosen)]);
        if (!st->enc || !st->enc->begin(content_length(edit))) {
            st->enc.reset();
            return;  // the library failed (memory): the response goes as it is
        }
        edit.body = st;
        edit.remove.push_back("accept-ranges");
        edit.add.emplace_back("Content-Encoding", std::string(compress::name_of(st->chosen)));
        if (auto etag = edit.field("etag"); etag && etag->starts_with('"') && !edit.removes("etag")) {
            edit.remove.push_back("etag");
            edit.add.emplace_back("ETag", "W/" + std::string(*etag));
        }
    }

private:
    // A response of a listed type that may be transformed, whoever asked for it.
    bool eligible(const response_edit& edit) const {
        if (edit.status < 200 || edit.status == 204 || edit.status == 206 || edit.status == 304) return false;
        auto type = edit.field("content-type");
        if (!type || !listed(*type)) return false;
        if (grpc::is_grpc(*type)) return false;  // gRPC compresses per message (grpc-encoding), never the stream
        if (auto ce = edit.field("content-encoding"); ce && !util::trim(*ce).empty()) return false;
        if (edit.field("content-range")) return false;
        for (auto& f : edit.fields)
            if (http::iequals(f.name, "cache-control") && has_directive(f.value, "no-transform")) return false;
        return true;
    }
    bool listed(std::string_view content_type) const {
        auto media = util::trim(content_type.substr(0, content_type.find(';')));
        auto slash = media.find('/');
        if (slash == std::string_view::npos) return false;
        auto type = media.substr(0, slash), subtype = media.substr(slash + 1);
        for (auto& p : spec_.types)
            if (http::iequals(type, p.type) && (p.subtype.empty() || http::iequals(subtype, p.subtype))) return true;
        return false;
    }
    static std::optional<std::uint64_t> content_length(const response_edit& edit) {
        auto v = edit.field("content-length");
        std::uint64_t n = 0;
        if (!v || std::from_chars(v->data(), v->data() + v->size(), n).ec != std::errc{}) return std::nullopt;
        return n;
    }
    bool too_small(const response_edit& edit) const {
        auto n = content_length(edit);
        return n && *n < spec_.min_bytes;
    }
    compress_spec spec_;
};

std::shared_ptr<const middleware> compress_spec::build(build_services&, config::diagnostics&) const {
    return std::make_shared<compress_middleware>(*this);
}

const std::vector<std::string> k_default_types{"text/html",
                                               "text/plain",
                                               "text/css",
                                               "text/xml",
                                               "text/javascript",
                                               "text/csv",
                                               "text/event-stream",
                                               "application/json",
                                               "application/javascript",
                                               "application/xml",
                                               "application/problem+json",
                                               "application/wasm",
                                               "image/svg+xml"};

void parse_types(config::map_reader& r, compress_spec& spec) {
    auto list = r.has("types") ? r.string_list("types") : std::optional(k_default_types);
    if (!list) return;
    for (auto& t : *list) {
        auto slash = t.find('/');
        auto type = t.substr(0, slash);
        auto subtype = slash == std::string::npos ? std::string() : t.substr(slash + 1);
        if (slash == std::string::npos || !is_header_name(type) || type == "*" || (subtype != "*" && !is_header_name(subtype))) {
            r.error("types", "'" + t + "' is not a media type (type/subtype or type/*, e.g. application/json, text/*)");
            continue;
        }
        spec.types.push_back({util::ascii_lower(type), subtype == "*" ? std::string() : util::ascii_lower(subtype)});
    }
}

void parse_algorithms(config::map_reader& r, compress_spec& spec) {
    auto list = r.string_list("algorithms");
    if (!list) return;
    spec.algorithms.clear();
    for (auto& a : *list) {
        auto c = compress::coding_named(a);
        if (!c || a == "x-gzip") {
            r.error("algorithms", "'" + a + "' is not one of zstd, br, gzip");
            continue;
        }
        if (std::find(spec.algorithms.begin(), spec.algorithms.end(), *c) != spec.algorithms.end())
            r.error("algorithms", "'" + a + "' is listed twice");
        spec.algorithms.push_back(*c);
    }
    if (spec.algorithms.empty()) r.error("algorithms", "name at least one of zstd, br, gzip");
}

void parse_levels(config::map_reader& r, compress_spec& spec) {
    if (!r.has("levels")) return;
    config::map_reader l(r.get("levels"), r.child_path("levels"), r.diags(), {"gzip", "br", "zstd"});
    if (!l.ok()) return;
    for (auto c : {coding::gzip, coding::br, coding::zstd}) {
        auto range = compress::levels_of(c);
        if (auto v = l.integer(std::string(compress::name_of(c)), range.min, range.max))
            spec.levels[static_cast<std::size_t>(c)] = static_cast<int>(*v);
    }
    l.finish();
}

std::shared_ptr<config::middleware_spec> parse(const YAML::Node& n, const std::string& path, config::diagnostics& d, const YAML::Node&) {
    auto spec = std::make_shared<compress_spec>();
    config::map_reader r(n, path, d, {"types", "min_bytes", "algorithms", "levels"});
    if (!r.ok()) return nullptr;
    parse_types(r, *spec);
    if (auto m = r.size_value("min_bytes")) spec->min_bytes = *m;
    parse_algorithms(r, *spec);
    parse_levels(r, *spec);
    r.finish();
    return spec;
}

}  // namespace

void register_compress() { config::register_middleware_type("compress", parse); }

}  // namespace gatehouse::middleware
