#include "transcode/translate.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "json/tape.hpp"
#include "transcode/field_path.hpp"
#include "transcode/pb_json_decode.hpp"
#include "transcode/pb_json_encode.hpp"
#include "transcode/request_fields.hpp"
#include "transcode/service_set.hpp"

namespace gatehouse::transcode {
namespace pb = google::protobuf;
namespace {

// Deeper JSON is left to libprotobuf (which refuses past 100 levels).
constexpr std::size_t k_max_json_depth = 64;

void append_frame_header(std::string& out, std::size_t length) {
    out += '\0';
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xff);
}

// The JSON of `bytes` as a message of `full_name`.
bool to_json(const service_set& set, const std::string& full_name, const std::string& bytes, const print_options& print, std::string& json,
             std::string& error) {
    pb::util::JsonPrintOptions options;
    options.add_whitespace = print.add_whitespace;
    options.always_print_primitive_fields = print.always_print_primitive_fields;
    options.preserve_proto_field_names = print.preserve_proto_field_names;
    json.clear();
    const auto status = pb::util::BinaryToJsonString(&set.resolver(), type_url(full_name), bytes, &json, options);
    if (!status.ok()) {
        error = std::string(status.message());
        return false;
    }
    return true;
}

// A response_body field picked out of the whole response's JSON.
std::string pick_field(const binding& b, const std::string& whole, const print_options& print) {
    const auto* field = find_field(b.method->output_type(), b.response_body);
    auto doc = nlohmann::json::parse(whole, nullptr, false);
    const auto key = print.preserve_proto_field_names ? field->name() : field->json_name();
    const auto it = doc.is_object() ? doc.find(key) : doc.end();
    const nlohmann::json value = doc.is_object() && it != doc.end() ? *it : nlohmann::json();
    return value.dump(print.add_whitespace ? 1 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The type URLs of a google.rpc.Status's details (field 3, each an Any whose field 1 is the URL),
// read from the wire without resolving them.
std::vector<std::string> detail_types(std::string_view status) {
    std::vector<std::string> urls;
    pb::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(status.data()), static_cast<int>(status.size()));
    while (const auto tag = in.ReadTag()) {
        if (tag != ((3u << 3) | 2u)) {
            if (!pb::internal::WireFormatLite::SkipField(&in, tag)) break;
            continue;
        }
        std::string any;
        std::uint32_t length = 0;
        if (!in.ReadVarint32(&length) || !in.ReadString(&any, static_cast<int>(length))) break;
        pb::io::CodedInputStream inner(reinterpret_cast<const std::uint8_t*>(any.data()), static_cast<int>(any.size()));
        std::string url;
        while (const auto t = inner.ReadTag()) {
            std::uint32_t n = 0;
            if (t == ((1u << 3) | 2u) && inner.ReadVarint32(&n) && inner.ReadString(&url, static_cast<int>(n))) break;
            if (!pb::internal::WireFormatLite::SkipField(&inner, t)) break;
        }
        urls.push_back(std::move(url));
    }
    return urls;
}

// The body written to the wire by our own walk, framed: false when the walk declines it (not
// JSON to our parser, a repeated member name, anything libprotobuf refuses or might spell
// otherwise), and libprotobuf then decides.
bool walk_body(const pb::Descriptor* type, std::string_view body, std::string& framed) {
    json_tape::tape_lease lease;
    if (!parse_body(body, k_max_json_depth, lease.doc)) return false;
    framed.assign(5, '\0');
    if (!encode_json(type, lease.doc.root(), framed)) return false;
    const std::size_t length = framed.size() - 5;
    for (int i = 0; i < 4; ++i) framed[1 + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
    return true;
}

}  // namespace

bool encode_request(const service_set& set, const binding& b, const bound_values& values, std::string_view query, std::string_view body,
                    bool ignore_unknown_query, std::string& framed, std::string& error) {
    const auto* type = b.method->input_type();
    const bool only_body = b.body == "*" && values.empty() && query.empty();
    if (only_body && b.walk_request && walk_body(type, body, framed)) return true;
    std::string json;
    if (only_body) {
        json.assign(body.empty() ? std::string_view("{}") : body);
    } else {
        auto root = nlohmann::json::object();
        if (!map_query(root, type, query, ignore_unknown_query, error)) return false;
        if (!b.body.empty() && !body.empty()) {
            auto doc = nlohmann::json::parse(body, nullptr, false);
            if (doc.is_discarded()) {
                error = "the body is not JSON";
                return false;
            }
            if (b.body == "*") {
                if (!doc.is_object()) {
                    error = "the body is no JSON object";
                    return false;
                }
                for (auto& [k, v] : doc.items()) root[k] = std::move(v);
            } else {
                // body: "book" (a field of the request; resolved at load)
                auto* node = &root;
                std::size_t start = 0;
                for (;;) {
                    const auto dot = b.body.find('.', start);
                    node = &(*node)[b.body.substr(start, dot == std::string::npos ? std::string::npos : dot - start)];
                    if (dot == std::string::npos) break;
                    if (!node->is_object()) *node = nlohmann::json::object();
                    start = dot + 1;
                }
                *node = std::move(doc);
            }
        }
        for (const auto& [path, value] : values) {
            if (set_text_field(root, type, path, value, error) != set_result::ok) return false;
        }
        json = root.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // values were checked: UTF-8
    }
    pb::util::JsonParseOptions options;
    std::string message;
    const auto status = pb::util::JsonToBinaryString(&set.resolver(), type_url(type->full_name()), json, &message, options);
    if (!status.ok()) {
        error = std::string(status.message());
        return false;
    }
    framed.clear();
    framed.reserve(5 + message.size());
    append_frame_header(framed, message.size());
    framed += message;
    return true;
}

namespace {

enum class frame_result { message, need_more, bad };

// The next length-prefixed message of `frames` into `message` (consumed from `frames`); need_more:
// `frames` holds less than a whole one. `max`: the largest message taken (0: any).
frame_result next_frame(std::string_view& frames, std::size_t max, std::string& message, std::string& error) {
    if (frames.size() < 5) return frame_result::need_more;
    const auto* p = reinterpret_cast<const unsigned char*>(frames.data());
    if (p[0] != 0) {
        error = "a gRPC message is compressed (flag " + std::to_string(p[0]) + ")";
        return frame_result::bad;
    }
    const std::size_t length = (std::size_t{p[1]} << 24) | (std::size_t{p[2]} << 16) | (std::size_t{p[3]} << 8) | p[4];
    if (max != 0 && length > max) {
        error = "a gRPC message is larger than " + std::to_string(max) + " bytes";
        return frame_result::bad;
    }
    if (frames.size() - 5 < length) return frame_result::need_more;
    message.assign(frames.substr(5, length));
    frames.remove_prefix(5 + length);
    return frame_result::message;
}

// One response message's JSON (its response_body field when the rule names one).
bool message_json(const service_set& set, const binding& b, const std::string& message, const print_options& print, std::string& json,
                  std::string& error) {
    const bool walked = b.walk_response && decode_json(b.method->output_type(), message, print, json);
    if (!walked && !to_json(set, b.method->output_type()->full_name(), message, print, json, error)) return false;
    if (!b.response_body.empty()) json = pick_field(b, json, print);
    return true;
}

}  // namespace

bool decode_response(const service_set& set, const binding& b, std::string_view frames, const print_options& print, std::string& json,
                     std::string& error) {
    if (b.server_streaming) {
        response_stream stream(set, b, print, 0);
        json.clear();
        if (!stream.feed(frames, json, error)) return false;
        if (!stream.at_boundary()) {
            error = "a gRPC message is cut short";
            return false;
        }
        if (stream.messages() == 0) json += '[';
        json += ']';
        return true;
    }
    std::string message;
    switch (next_frame(frames, 0, message, error)) {
        case frame_result::bad: return false;
        case frame_result::need_more:
            error = frames.empty() ? "a unary method answered with no message" : "a gRPC message is cut short";
            return false;
        case frame_result::message: break;
    }
    if (!frames.empty()) {
        error = "a unary method answered with more than one message";
        return false;
    }
    return message_json(set, b, message, print, json, error);
}

response_stream::response_stream(const service_set& set, const binding& b, const print_options& print, std::size_t max_message)
    : set_(set), b_(b), print_(print), max_(max_message) {}

bool response_stream::feed(std::string_view bytes, std::string& json, std::string& error) {
    std::string_view frames = bytes;
    const bool held = !partial_.empty();
    if (held) {  // a message cut across pieces: completed in partial_ (bounded by max_)
        partial_.append(bytes);
        frames = partial_;
    }
    for (;;) {
        const auto r = next_frame(frames, max_, message_, error);
        if (r == frame_result::bad) return false;
        if (r == frame_result::need_more) break;
        if (!message_json(set_, b_, message_, print_, one_, error)) return false;
        json += count_ == 0 ? '[' : ',';
        json += one_;
        ++count_;
    }
    if (held) partial_.erase(0, partial_.size() - frames.size());  // (frames is its tail)
    else partial_.assign(frames);  // (empty: at a boundary)
    return true;
}

std::string error_body(const service_set& set, int grpc_code, std::string_view message, std::string_view status_details,
                       const print_options& print) {
    nlohmann::json doc = {{"code", grpc_code}, {"message", std::string(message)}, {"details", nlohmann::json::array()}};
    if (!status_details.empty()) {
        print_options plain = print;
        plain.add_whitespace = false;
        std::string json, error;
        if (to_json(set, "google.rpc.Status", std::string(status_details), plain, json, error)) {
            auto status = nlohmann::json::parse(json, nullptr, false);
            if (status.is_object() && status.contains("details")) doc["details"] = std::move(status["details"]);
        } else {
            for (auto& url : detail_types(status_details)) doc["details"].push_back({{"@type", std::move(url)}});
        }
    }
    // grpc-message is the server's text: not UTF-8 is replaced, never thrown on.
    return doc.dump(print.add_whitespace ? 1 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gatehouse::transcode
