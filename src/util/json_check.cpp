#include "util/json_check.hpp"

#include <cstdint>

namespace gatehouse::util {

namespace {

constexpr std::string_view k_bom = "\xEF\xBB\xBF";

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class checker {
public:
    checker(std::string_view text, std::size_t max_depth)
        : p_(reinterpret_cast<const unsigned char*>(text.data())), end_(p_ + text.size()), max_depth_(max_depth) {}

    json_checked run() {
        json_checked out;
        if (std::string_view(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(end_ - p_)).starts_with(k_bom)) {
            p_ += k_bom.size();
            loose_ = true;
        }
        out.result = document();
        out.loose = loose_;
        return out;
    }

private:
    // The containers open around the current position: a bit per level, 1 for an object. The
    // grammar below is a loop over tokens, so nesting costs no stack frames.
    json_check document() {
        std::uint64_t kinds = 0;  // the innermost 64 levels; deeper ones need only the count
        std::string overflow;     // kinds of levels past 64 ('o' or 'a'), rarely used
        std::size_t depth = 0;
        for (;;) {
            // A value is expected here.
            skip_space();
            if (p_ == end_) return json_check::syntax;
            const unsigned char c = *p_;
            if (c == '{' || c == '[') {
                if (++depth > max_depth_) return json_check::too_deep;
                if (depth > 64) overflow.push_back(static_cast<char>(kinds >> 63));
                kinds = (kinds << 1) | (c == '{' ? 1u : 0u);
                ++p_;
                skip_space();
                if (p_ != end_ && *p_ == (c == '{' ? '}' : ']')) {
                    ++p_;  // empty: the container ends, as a value does
                    pop(kinds, overflow, depth);
                } else if (c == '{') {
                    if (!member_name()) return json_check::syntax;
                    continue;
                } else {
                    continue;
                }
            } else if (!scalar()) {
                return json_check::syntax;
            }
            // A value ended: what follows closes containers or starts the next element.
            for (;;) {
                skip_space();
                if (depth == 0) return p_ == end_ ? json_check::ok : json_check::syntax;
                if (p_ == end_) return json_check::syntax;
                const bool object = kinds & 1u;
                if (*p_ == ',') {
                    ++p_;
                    if (object && !member_name()) return json_check::syntax;
                    break;
                }
                if (*p_ != (object ? '}' : ']')) return json_check::syntax;
                ++p_;
                pop(kinds, overflow, depth);
            }
        }
    }

    static void pop(std::uint64_t& kinds, std::string& overflow, std::size_t& depth) {
        kinds >>= 1;
        if (depth > 64) {
            kinds |= static_cast<std::uint64_t>(overflow.back()) << 63;
            overflow.pop_back();
        }
        --depth;
    }

    void skip_space() {
        while (p_ != end_ && is_space(*p_)) {
            ++p_;
            loose_ = true;
        }
    }

    // `"name" :` before a member's value.
    bool member_name() {
        skip_space();
        if (p_ == end_ || *p_ != '"' || !string()) return false;
        skip_space();
        if (p_ == end_ || *p_ != ':') return false;
        ++p_;
        return true;
    }

    bool scalar() {
        switch (*p_) {
            case '"': return string();
            case 't': return literal("true");
            case 'f': return literal("false");
            case 'n': return literal("null");
            default: return number();
        }
    }

    bool literal(std::string_view word) {
        if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
        if (std::string_view(reinterpret_cast<const char*>(p_), word.size()) != word) return false;
        p_ += word.size();
        return true;
    }

    bool digits() {
        const auto* from = p_;
        while (p_ != end_ && is_digit(*p_)) ++p_;
        return p_ != from;
    }

    // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    bool number() {
        if (*p_ == '-') ++p_;
        if (p_ == end_) return false;
        if (*p_ == '0') {
            ++p_;
        } else if (!digits()) {
            return false;
        }
        if (p_ != end_ && *p_ == '.') {
            ++p_;
            if (!digits()) return false;
        }
        if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (!digits()) return false;
        }
        return true;
    }

    // At the opening quote; past the closing one when it returns true.
    bool string() {
        ++p_;
        for (;;) {
            while (p_ != end_ && *p_ >= 0x20 && *p_ < 0x80 && *p_ != '"' && *p_ != '\\') ++p_;
            if (p_ == end_) return false;
            const unsigned char c = *p_;
            if (c == '"') {
                ++p_;
                return true;
            }
            if (c < 0x20) return false;
            if (c == '\\') {
                if (!escape()) return false;
            } else if (!utf8_sequence()) {
                return false;
            }
        }
    }

    bool escape() {
        ++p_;
        if (p_ == end_) return false;
        switch (*p_++) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': return true;
            case 'u': break;
            default: return false;
        }
        const int unit = code_unit();
        if (unit < 0) return false;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate alone
        if (unit < 0xD800 || unit > 0xDBFF) return true;
        // A high surrogate: its low half must follow as an escape of its own.
        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
        p_ += 2;
        const int low = code_unit();
        return low >= 0xDC00 && low <= 0xDFFF;
    }

    int code_unit() {
        if (end_ - p_ < 4) return -1;
        int v = 0;
        for (int i = 0; i < 4; ++i) {
            const int d = hex_digit(p_[i]);
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        p_ += 4;
        return v;
    }

    // RFC 3629's well-formed sequences: no overlong forms, no surrogates, nothing past U+10FFFF.
    bool utf8_sequence() {
        const unsigned char c = *p_;
        int more;
        unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return false;
        }
        if (end_ - p_ <= more) return false;
        if (p_[1] < lo || p_[1] > hi) return false;
        for (int i = 2; i <= more; ++i)
            if (p_[i] < 0x80 || p_[i] > 0xBF) return false;
        p_ += more + 1;
        return true;
    }

    const unsigned char* p_;
    const unsigned char* end_;
    std::size_t max_depth_;
    bool loose_ = false;
};

}  // namespace

json_checked check_json(std::string_view text, std::size_t max_depth) { return checker(text, max_depth).run(); }

void append_minified(std::string& out, std::string_view checked) {
    if (checked.starts_with(k_bom)) checked.remove_prefix(k_bom.size());
    out.reserve(out.size() + checked.size());
    bool in_string = false, escaped = false;
    for (const char c : checked) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (is_space(static_cast<unsigned char>(c))) {
            continue;
        }
        out.push_back(c);
    }
}

}  // namespace gatehouse::util
