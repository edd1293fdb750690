#pragma once
// The path templates of google.api.HttpRule (google/api/http.proto, "Path template syntax"):
//   Template = "/" Segments [ Verb ] ;  Segment = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;  FieldPath = IDENT { "." IDENT } ;
//   Verb = ":" LITERAL ;
// A grammar of its own (variables over several segments, wildcards outside variables, dotted
// field paths, a custom verb), so it is not config/path_template's route syntax: that one names
// route variables for rewrites, this one names protobuf fields.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::transcode {

struct http_template {
    enum class kind { literal, any_one, any_rest };  // LITERAL, "*", "**"
    struct segment {
        kind what = kind::literal;
        std::string text;  // a literal's text
    };
    // A variable binds the segments [first, last) to a field; a variable ending in "**" takes
    // the rest of the path (last == segments.size()).
    struct variable {
        std::string field_path;  // "shelf" or "book.name"
        std::size_t first = 0;
        std::size_t last = 0;
    };
    std::vector<segment> segments;
    std::vector<variable> variables;
    std::string verb;  // without the ':'; empty: none

    // Literal segments, for ranking templates that match the same path (more literals win).
    std::size_t literal_count() const;
};

// nullopt with the reason in `error` for text that is not a template. Beyond the grammar: "**"
// only as the last segment, variables do not nest, a field is bound once.
std::optional<http_template> parse_http_template(std::string_view text, std::string& error);

// One variable's value: the field path and its text, percent-decoded (a variable over several
// segments keeps "%2F" as it is, as grpc-gateway does, so its '/' stay separators).
using bound_values = std::vector<std::pair<std::string, std::string>>;

// Matches `path` (no query) against the template; true and the variables' values in `out`.
// A path that fails to percent-decode does not match.
bool match_http_template(const http_template& t, std::string_view path, bound_values& out);


}  // namespace gatehouse::transcode
