#pragma once
// HTTP/1 field lines as gatehouse writes them: one written out, and field_copier, which passes
// lines on as they arrived (a request's or a response's), one copy per run of consecutive lines.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "http1/head.hpp"

namespace gatehouse::http1 {

inline void append_field(std::string& out, std::string_view name, std::string_view value) {
    using namespace std::string_view_literals;
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
}

inline void append_content_length(std::string& out, std::uint64_t n) {
    using namespace std::string_view_literals;
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    out += "Content-Length: "sv;
    out.append(digits, end);
    out += "\r\n"sv;
}

// Field lines passed on as they arrived: lines that were consecutive in the received head go out
// as one copy; a field without its received line (added by gatehouse, from a stored response) is
// written out. flush() before anything else is appended to `out`.
class field_copier {
public:
    explicit field_copier(std::string& out) : out_(out) {}
    void keep(const field_view& f) {
        if (!f.line.empty() && f.line.data() == end_) {
            end_ += f.line.size();
            return;
        }
        flush();
        if (f.line.empty()) return append_field(out_, f.name, f.value);
        begin_ = f.line.data();
        end_ = begin_ + f.line.size();
    }
    void flush() {
        if (begin_ != nullptr) out_.append(begin_, end_);
        begin_ = end_ = nullptr;
    }

private:
    std::string& out_;
    const char* begin_ = nullptr;
    const char* end_ = nullptr;
};

}  // namespace gatehouse::http1
