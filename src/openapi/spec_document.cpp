#include "openapi/spec_document.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>

#include "openapi/uri.hpp"
#include "util/read_file.hpp"

namespace gatehouse::openapi {
namespace {

constexpr std::size_t k_max_document_depth = 200;

// A plain (unquoted) YAML scalar as JSON's null, boolean, integer or number when it reads as
// one (YAML 1.2 core schema), else as a string.
json plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    std::int64_t i = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
    if (ec == std::errc() && p == s.data() + s.size()) return i;
    auto j = json::parse(s, nullptr, false);  // a JSON number: 1.5, -2e3
    if (!j.is_discarded() && j.is_number()) return j;
    return s;
}

struct converter {
    spec_document& out;
    std::string error;

    std::optional<json> convert(const YAML::Node& n, const std::string& pointer, std::size_t depth) {
        if (depth > k_max_document_depth) {
            error = "nested deeper than " + std::to_string(k_max_document_depth);
            return std::nullopt;
        }
        out.marks.emplace(pointer, config::source_mark{n.Mark().line + 1, n.Mark().column + 1});
        switch (n.Type()) {
            case YAML::NodeType::Null:
            case YAML::NodeType::Undefined: return json(nullptr);
            case YAML::NodeType::Scalar:
                return n.Tag() == "?" ? plain_scalar(n.Scalar()) : json(n.Scalar());
            case YAML::NodeType::Sequence: {
                json a = json::array();
                std::size_t i = 0;
                for (auto& e : n) {
                    auto v = convert(e, pointer + "/" + std::to_string(i++), depth + 1);
                    if (!v) return std::nullopt;
                    a.push_back(std::move(*v));
                }
                return a;
            }
            case YAML::NodeType::Map: {
                json o = json::object();
                for (auto& kv : n) {
                    auto key = kv.first.Scalar();
                    auto child = pointer + "/" + escape_pointer_token(key);
                    auto v = convert(kv.second, child, depth + 1);
                    if (!v) return std::nullopt;
                    // A member is shown at its key ("minimun: 3" at the "m"), where a reader looks.
                    out.marks[child] = {kv.first.Mark().line + 1, kv.first.Mark().column + 1};
                    o[key] = std::move(*v);
                }
                return o;
            }
        }
        return json(nullptr);
    }
};

}  // namespace

config::source_mark spec_document::mark(std::string_view pointer) const {
    std::string p(pointer);
    while (true) {
        if (auto m = marks.find(p); m != marks.end()) return m->second;
        auto slash = p.rfind('/');
        if (slash == std::string::npos) return {};
        p.resize(slash);
    }
}

std::string spec_document::where(std::string_view pointer) const {
    auto m = mark(pointer);
    return file + ":" + std::to_string(m.line) + ":" + std::to_string(m.column);
}

std::string file_uri(const std::string& path) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec).lexically_normal().string();
    return "file://" + (ec ? path : abs);
}

std::string uri_path(std::string_view uri) {
    if (!uri.starts_with("file://")) return {};
    return std::string(uri.substr(7));
}

std::optional<spec_document> load_spec_document(const std::string& path, std::string& error) {
    auto text = util::read_file(path);
    if (!text) {
        error = path + ": cannot read the file";
        return std::nullopt;
    }
    spec_document d;
    d.file = path;
    d.uri = file_uri(path);
    try {
        auto root = YAML::Load(*text);
        converter c{d, {}};
        auto j = c.convert(root, "", 0);
        if (!j) {
            error = path + ": " + c.error;
            return std::nullopt;
        }
        d.doc = std::move(*j);
    } catch (const YAML::Exception& e) {
        error = path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
        return std::nullopt;
    }
    return d;
}

}  // namespace gatehouse::openapi
