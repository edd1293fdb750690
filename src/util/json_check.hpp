#pragma once
// A JSON document checked without building it: RFC 8259's grammar, UTF-8 inside strings (the
// encoded forms RFC 3629 allows; \u escapes paired as surrogates must be), and the nesting depth,
// in one pass with no allocation. For a document that is passed on as it came (a composition
// call's answer spliced into the merged answer) where a parse would build a tree only to write
// it out again. It accepts what nlohmann's parser accepts (a UTF-8 byte order mark first, then
// one value between optional whitespace), but numbers only by their grammar: a magnitude no
// double holds (1e999) passes here and is an error there.
#include <cstddef>
#include <string>
#include <string_view>

namespace gatehouse::util {

enum class json_check { ok, syntax, too_deep };

struct json_checked {
    json_check result = json_check::syntax;
    bool loose = false;  // insignificant whitespace or a byte order mark: minify before splicing
};

// `text` as one JSON value nested at most `max_depth` arrays and objects deep.
json_checked check_json(std::string_view text, std::size_t max_depth);

// A checked document without its byte order mark and the whitespace between tokens (strings
// copied as they are), appended to `out`.
void append_minified(std::string& out, std::string_view checked);

}  // namespace gatehouse::util
