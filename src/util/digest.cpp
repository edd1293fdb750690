#include "util/digest.hpp"

#include <openssl/evp.h>

namespace gatehouse::util {

namespace {
// Fetched once (OpenSSL 3): EVP_sha256() and friends make EVP_Digest look the algorithm up in
// the provider store on every call.
const EVP_MD* fetched(const char* name) {
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    return md;  // kept for the life of the process
}
const EVP_MD* sha256_md() {
    static const EVP_MD* md = fetched("SHA2-256");
    return md;
}
const EVP_MD* sha1_md() {
    static const EVP_MD* md = fetched("SHA1");
    return md;
}

std::size_t hex_digest(std::string_view data, const EVP_MD* type, char* out) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, type, nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    return len * 2;
}
std::string hex_digest(std::string_view data, const EVP_MD* type) {
    char buf[EVP_MAX_MD_SIZE * 2];
    return std::string(buf, hex_digest(data, type, buf));
}
}  // namespace

std::string sha256_hex(std::string_view data) { return hex_digest(data, sha256_md()); }
std::string_view sha256_hex(std::string_view data, char (&out)[64]) { return {out, hex_digest(data, sha256_md(), out)}; }
std::string sha1_hex(std::string_view data) { return hex_digest(data, sha1_md()); }

}  // namespace gatehouse::util
