#include "transcode/http_template.hpp"
#include "util/percent.hpp"

#include <algorithm>

namespace gatehouse::transcode {
namespace {

// What a LITERAL (or the verb) may hold: the path characters of RFC 3986 but the template's own
// punctuation ('/', '{', '}', '*', '=' inside a variable, ':' before the verb).
bool literal_char(char c) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
    switch (c) {
        case '/': case '{': case '}': case '*': case ':': case '=': case '?': case '#': case '"': case '<': case '>':
        case '\\': case '^': case '`': case '|':
            return false;
        default:
            return true;
    }
}

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

class template_parser {
public:
    template_parser(std::string_view text, std::string& error) : text_(text), error_(error) {}

    std::optional<http_template> parse() {
        if (text_.empty() || text_.front() != '/') return fail("a path template starts with '/'");
        pos_ = 1;
        // "/" alone: the root, no segments.
        if (text_ != "/" && !segments(false)) return std::nullopt;
        if (pos_ < text_.size() && text_[pos_] == ':') {
            ++pos_;
            const auto start = pos_;
            while (pos_ < text_.size() && literal_char(text_[pos_])) ++pos_;
            if (pos_ == start) return fail("':' must be followed by a verb");
            out_.verb = std::string(text_.substr(start, pos_ - start));
        }
        if (pos_ != text_.size()) return fail("unexpected '" + std::string(1, text_[pos_]) + "' at offset " + std::to_string(pos_));
        for (std::size_t i = 0; i + 1 < out_.segments.size(); ++i) {
            if (out_.segments[i].what == http_template::kind::any_rest) return fail("'**' may only be the last segment");
        }
        return std::move(out_);
    }

private:
    std::optional<http_template> fail(std::string why) {
        error_ = std::move(why);
        return std::nullopt;
    }

    bool bad(std::string why) {
        error_ = std::move(why);
        return false;
    }

    bool segments(bool in_variable) {
        for (;;) {
            if (!segment(in_variable)) return false;
            if (pos_ < text_.size() && text_[pos_] == '/') {
                ++pos_;
                continue;
            }
            return true;
        }
    }

    bool segment(bool in_variable) {
        if (pos_ >= text_.size()) return bad("a segment is missing at the end");
        const char c = text_[pos_];
        if (c == '*') {
            const bool rest = pos_ + 1 < text_.size() && text_[pos_ + 1] == '*';
            pos_ += rest ? 2 : 1;
            out_.segments.push_back({rest ? http_template::kind::any_rest : http_template::kind::any_one, {}});
            return true;
        }
        if (c == '{') {
            if (in_variable) return bad("variables do not nest");
            return variable();
        }
        const auto start = pos_;
        while (pos_ < text_.size() && literal_char(text_[pos_])) ++pos_;
        if (pos_ == start) return bad("a segment is empty or starts with '" + std::string(1, c) + "'");
        out_.segments.push_back({http_template::kind::literal, std::string(text_.substr(start, pos_ - start))});
        return true;
    }

    bool variable() {
        ++pos_;  // '{'
        const auto start = pos_;
        for (;;) {
            if (pos_ >= text_.size() || !ident_start(text_[pos_])) return bad("a variable names a field: letters, digits, '_' and '.'");
            while (pos_ < text_.size() && ident_char(text_[pos_])) ++pos_;
            if (pos_ < text_.size() && text_[pos_] == '.') {
                ++pos_;
                continue;
            }
            break;
        }
        http_template::variable v;
        v.field_path = std::string(text_.substr(start, pos_ - start));
        for (const auto& other : out_.variables) {
            if (other.field_path == v.field_path) return bad("the field '" + v.field_path + "' is bound twice");
        }
        v.first = out_.segments.size();
        if (pos_ < text_.size() && text_[pos_] == '=') {
            ++pos_;
            if (!segments(true)) return false;
        } else {
            out_.segments.push_back({http_template::kind::any_one, {}});
        }
        if (pos_ >= text_.size() || text_[pos_] != '}') return bad("a variable is not closed with '}'");
        ++pos_;
        v.last = out_.segments.size();
        out_.variables.push_back(std::move(v));
        return true;
    }

    std::string_view text_;
    std::string& error_;
    std::size_t pos_ = 0;
    http_template out_;
};

}  // namespace

std::size_t http_template::literal_count() const {
    return static_cast<std::size_t>(std::count_if(segments.begin(), segments.end(), [](const segment& s) { return s.what == kind::literal; }));
}

std::optional<http_template> parse_http_template(std::string_view text, std::string& error) {
    return template_parser(text, error).parse();
}

bool match_http_template(const http_template& t, std::string_view path, bound_values& out) {
    out.clear();
    if (path.empty() || path.front() != '/') return false;
    if (!t.verb.empty()) {
        if (path.size() < t.verb.size() + 2 || path[path.size() - t.verb.size() - 1] != ':' || !path.ends_with(t.verb)) return false;
        path.remove_suffix(t.verb.size() + 1);
    }
    // The path's segments as views ("/" alone has none).
    std::vector<std::string_view> parts;
    if (path.size() > 1) {
        std::size_t start = 1;
        for (;;) {
            const auto slash = path.find('/', start);
            parts.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
            if (slash == std::string_view::npos) break;
            start = slash + 1;
        }
    }
    const bool rest = !t.segments.empty() && t.segments.back().what == http_template::kind::any_rest;
    const std::size_t fixed = rest ? t.segments.size() - 1 : t.segments.size();
    if (rest ? parts.size() < fixed : parts.size() != fixed) return false;
    for (std::size_t i = 0; i < fixed; ++i) {
        const auto& s = t.segments[i];
        if (s.what == http_template::kind::literal ? parts[i] != s.text : parts[i].empty()) return false;
    }
    for (const auto& v : t.variables) {
        const std::size_t last = v.last == t.segments.size() && rest ? parts.size() : v.last;
        std::string raw;
        for (std::size_t i = v.first; i < last; ++i) {
            if (i > v.first) raw += '/';
            raw.append(parts[i]);
        }
        std::string value;
        const bool single = last - v.first == 1 && !(rest && v.last == t.segments.size());
        if (!util::percent_decode(raw, !single, false, value)) return false;
        out.emplace_back(v.field_path, std::move(value));
    }
    return true;
}

}  // namespace gatehouse::transcode
