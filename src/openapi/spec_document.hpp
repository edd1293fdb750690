#pragma once
// An OpenAPI document (YAML or JSON: JSON is read as YAML) as nlohmann::json, with the line and
// column of every node by JSON pointer, so that a refusal inside the spec names the spec file's
// own file:line:col.
#include <optional>
#include <string>
#include <unordered_map>

#include "gatehouse/config/diagnostics.hpp"
#include "openapi/schema.hpp"

namespace gatehouse::openapi {

struct spec_document {
    std::string file;  // as configured
    std::string uri;   // file:// URI of its absolute path, the base of its $refs
    json doc;
    std::unordered_map<std::string, config::source_mark> marks;  // JSON pointer -> position

    // The position of `pointer`, or of its nearest ancestor that has one.
    config::source_mark mark(std::string_view pointer) const;
    // "file:line:col"
    std::string where(std::string_view pointer) const;
};

// Reads and converts `path`; nothing and `error` ("file:line:col: reason") when it cannot.
std::optional<spec_document> load_spec_document(const std::string& path, std::string& error);

// The file:// URI of a path (made absolute against the working directory).
std::string file_uri(const std::string& path);
// The path of a file:// URI, or empty.
std::string uri_path(std::string_view uri);

}  // namespace gatehouse::openapi
