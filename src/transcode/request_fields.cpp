#include "transcode/request_fields.hpp"

#include <google/protobuf/descriptor.h>

#include <nlohmann/json.hpp>

#include "transcode/field_path.hpp"
#include "transcode/http_template.hpp"
#include "util/percent.hpp"

namespace gatehouse::transcode {
namespace pb = google::protobuf;
namespace {

// Protobuf strings are UTF-8 (and JSON text is): a value that is not is refused, not mangled.
bool valid_utf8(std::string_view v) {
    for (std::size_t i = 0; i < v.size();) {
        const auto c = static_cast<unsigned char>(v[i]);
        const std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
        if (n == 4 || v.size() - i <= n) return false;  // a stray continuation byte, or cut short
        std::uint32_t cp = n == 0 ? c : c & (0x3fu >> n);
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(v[i + k]);
            if ((cc >> 6) != 0x2) return false;
            cp = (cp << 6) | (cc & 0x3fu);
        }
        // Overlong forms, surrogates and values past U+10FFFF.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool all_digits(std::string_view v) {
    if (v.starts_with('-')) v.remove_prefix(1);
    if (v.empty() || v.size() > 10) return false;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

std::optional<bool> bool_text(std::string_view v) {
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0") return false;
    return std::nullopt;
}

// The JSON a text value becomes for `field`; nullopt and `error` when the field takes no text.
std::optional<nlohmann::json> text_value(const pb::FieldDescriptor& field, std::string_view value, std::string& error) {
    switch (field.cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_BOOL: {
            const auto b = bool_text(value);
            if (!b) error = "'" + std::string(value) + "' is no bool for " + field.name();
            if (!b) return std::nullopt;
            return nlohmann::json(*b);
        }
        case pb::FieldDescriptor::CPPTYPE_ENUM:
            if (all_digits(value)) return nlohmann::json(std::stol(std::string(value)));
            return nlohmann::json(std::string(value));
        case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
            const auto& name = field.message_type()->full_name();
            if (name == "google.protobuf.BoolValue") {
                const auto b = bool_text(value);
                if (!b) error = "'" + std::string(value) + "' is no bool for " + field.name();
                if (!b) return std::nullopt;
                return nlohmann::json(*b);
            }
            const bool text_form = name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration" ||
                                   name == "google.protobuf.FieldMask" ||
                                   (name.starts_with("google.protobuf.") && name.ends_with("Value") && name != "google.protobuf.Value");
            if (!text_form) {
                error = field.name() + " is a message (" + name + "): a path or query value cannot set it";
                return std::nullopt;
            }
            return nlohmann::json(std::string(value));
        }
        default:  // numbers as quoted strings (proto3 JSON takes both), strings, bytes (base64)
            return nlohmann::json(std::string(value));
    }
}

}  // namespace

set_result set_text_field(nlohmann::json& root, const pb::Descriptor* type, std::string_view path, std::string_view value,
                          std::string& error) {
    field_chain chain;
    if (!resolve_field_path(type, path, chain, error)) return set_result::unknown_field;
    if (!valid_utf8(value)) {
        error = "the value of '" + std::string(path) + "' is not UTF-8";
        return set_result::bad_value;
    }
    const auto& leaf = *chain.back();
    if (leaf.is_map()) {
        error = leaf.name() + " is a map: a path or query value cannot set it";
        return set_result::bad_value;
    }
    auto v = text_value(leaf, value, error);
    if (!v) return set_result::bad_value;
    nlohmann::json* node = &root;
    for (const auto* f : chain) {
        if (!node->is_object()) {
            error = "'" + std::string(path) + "' crosses a value that is no object";
            return set_result::bad_value;
        }
        // One spelling per field: the proto name; a JSON name the body used is moved over.
        if (f->json_name() != f->name()) {
            if (auto it = node->find(f->json_name()); it != node->end()) {
                (*node)[f->name()] = std::move(*it);
                node->erase(f->json_name());
            }
        }
        node = &(*node)[f->name()];
        if (f != chain.back() && node->is_null()) *node = nlohmann::json::object();
    }
    if (leaf.is_repeated()) {
        if (!node->is_array()) *node = nlohmann::json::array();
        node->push_back(std::move(*v));
    } else {
        *node = std::move(*v);
    }
    return set_result::ok;
}

bool map_query(nlohmann::json& root, const pb::Descriptor* type, std::string_view query, bool ignore_unknown, std::string& error) {
    std::string key, value;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        if (!util::percent_decode(pair.substr(0, eq), false, true, key) ||
            !util::percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), false, true, value)) {
            error = "a query parameter has a malformed %-escape";
            return false;
        }
        if (key.empty()) continue;
        const auto r = set_text_field(root, type, key, value, error);
        if (r == set_result::unknown_field && ignore_unknown) continue;
        if (r != set_result::ok) {
            error = "query parameter '" + key + "': " + error;
            return false;
        }
    }
    return true;
}

}  // namespace gatehouse::transcode
