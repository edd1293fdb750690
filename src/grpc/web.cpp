#include "grpc/web.hpp"

#include "util/text.hpp"

namespace gatehouse::grpc {

namespace {

constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int value_of(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// One whole group of four: 1 to 3 bytes (fewer with padding). false: malformed.
bool decode_group(const char (&g)[4], std::string& out) {
    const int a = value_of(g[0]), b = value_of(g[1]);
    if (a < 0 || b < 0) return false;
    out += static_cast<char>(a << 2 | b >> 4);
    if (g[2] == '=') return g[3] == '=';
    const int c = value_of(g[2]);
    if (c < 0) return false;
    out += static_cast<char>((b & 0xf) << 4 | c >> 2);
    if (g[3] == '=') return true;
    const int d = value_of(g[3]);
    if (d < 0) return false;
    out += static_cast<char>((c & 0x3) << 6 | d);
    return true;
}

void encode_group(const unsigned char* p, unsigned n, std::string& out) {
    const unsigned v = static_cast<unsigned>(p[0]) << 16 | (n > 1 ? static_cast<unsigned>(p[1]) << 8 : 0u) | (n > 2 ? p[2] : 0u);
    out += k_alphabet[v >> 18 & 63];
    out += k_alphabet[v >> 12 & 63];
    out += n > 1 ? k_alphabet[v >> 6 & 63] : '=';
    out += n > 2 ? k_alphabet[v & 63] : '=';
}

}  // namespace

bool web_request_decoder::feed(std::string_view in, std::string& out) {
    if (!text_) {
        out.append(in);
        return true;
    }
    for (char c : in) {
        if (c == '=') {
            if (held_ < 2) return false;
            padded_ = true;
        } else if (padded_ || value_of(c) < 0) {
            return false;
        }
        group_[held_++] = c;
        if (held_ < 4) continue;
        if (!decode_group(group_, out)) return false;
        held_ = 0;
        padded_ = false;
    }
    return true;
}

void web_response_encoder::emit(std::string_view in, std::string& out) {
    if (!text_) {
        out.append(in);
        return;
    }
    auto p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t n = in.size();
    while (n != 0 && held_n_ != 0 && held_n_ < 3) {  // complete the group the last piece left
        held_[held_n_++] = *p++;
        --n;
    }
    if (held_n_ == 3) {
        encode_group(held_, 3, out);
        held_n_ = 0;
    }
    for (; n >= 3; p += 3, n -= 3) encode_group(p, 3, out);
    for (; n != 0; --n) held_[held_n_++] = *p++;
}

void web_response_encoder::data(std::string_view in, std::string& out) { emit(in, out); }

void web_response_encoder::end(http::field_list trailers, std::string& out) {
    std::string block;
    append_trailer_block(block, trailers);
    frame_.clear();
    frame_ += static_cast<char>(0x80);
    const auto len = static_cast<std::uint32_t>(block.size());
    for (int shift = 24; shift >= 0; shift -= 8) frame_ += static_cast<char>(len >> shift & 0xff);
    frame_ += block;
    emit(frame_, out);
    if (text_ && held_n_ != 0) {
        encode_group(held_, held_n_, out);
        held_n_ = 0;
    }
}

void append_trailer_block(std::string& out, http::field_list trailers) {
    for (auto& f : trailers) {
        util::append_ascii_lower(out, f.name);
        out += ':';
        out += f.value;
        out += "\r\n";
    }
}

}  // namespace gatehouse::grpc
