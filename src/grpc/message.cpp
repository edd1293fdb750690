#include "grpc/message.hpp"

#include "util/percent.hpp"

namespace gatehouse::grpc {

void append_message_encoded(std::string& out, std::string_view message) {
    constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : message) {
        const auto b = static_cast<unsigned char>(ch);
        if (b >= 0x20 && b <= 0x7e && b != '%') {
            out += ch;
        } else {
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 0xf];
        }
    }
}

std::string encode_message(std::string_view message) {
    std::string out;
    out.reserve(message.size());
    append_message_encoded(out, message);
    return out;
}

std::string decode_message(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '%' && i + 2 < field.size()) {
            const int hi = util::hex_value(field[i + 1]);
            const int lo = util::hex_value(field[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += field[i];
    }
    return out;
}

}  // namespace gatehouse::grpc
