#include "util/base64.hpp"

#include <openssl/evp.h>

#include <array>

namespace gatehouse::util {

namespace {

using decode_table = std::array<signed char, 256>;  // character -> 6 bits, or -1

constexpr decode_table make_table(std::string_view alphabet) {
    decode_table t{};
    t.fill(-1);
    for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
}

constexpr decode_table k_standard = make_table("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
constexpr decode_table k_url = make_table("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

// Unpadded text in the alphabet of `t`; `canonical`: the bits left over after the last whole
// byte must be zero.
std::optional<std::string> decode(std::string_view in, const decode_table& t, bool canonical) {
    if (in.size() % 4 == 1) return std::nullopt;  // no encoding ends with 6 bits
    std::string out;
    out.reserve(in.size() * 3 / 4);
    unsigned val = 0;
    int bits = -8;
    for (unsigned char c : in) {
        const int v = t[c];
        if (v < 0) return std::nullopt;
        val = (val << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 0) {
            out += static_cast<char>((val >> bits) & 0xff);
            bits -= 8;
        }
    }
    if (canonical && bits > -8 && (val & ((1u << (bits + 8)) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace

std::string base64_encode(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    for (int pad = 0; pad < 2 && !in.empty() && in.back() == '='; ++pad) in.remove_suffix(1);
    return decode(in, k_standard, false);
}

std::optional<std::string> base64url_decode(std::string_view in) { return decode(in, k_url, true); }

}  // namespace gatehouse::util
