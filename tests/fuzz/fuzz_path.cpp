// Path and host normalisation (src/router/path.cpp): what routing and authorisation see. A
// normalised path normalises to itself (idempotent), starts with '/', and has no dot segment,
// no empty segment and no escape of an unreserved character left; a host normalises to itself.
#include <string>

#include "fuzz_check.hpp"
#include "gatehouse/router/path.hpp"

using namespace gatehouse::router;

namespace {

bool unreserved(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // lower-case hex is upper-cased by the normaliser
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    const bool host = in.byte() & 1;
    auto raw = in.rest;
    if (host) {
        std::string buf1, buf2;
        auto once = std::string(normalize_host(raw, buf1));
        auto twice = normalize_host(once, buf2);
        FUZZ_CHECK(twice == once);
        for (char c : once) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
        return 0;
    }
    std::string once;
    if (normalize_path(raw, once) != nullptr) return 0;
    std::string twice;
    FUZZ_CHECK(normalize_path(once, twice) == nullptr);
    FUZZ_CHECK(twice == once);
    if (!raw.empty() && raw.front() == '/') FUZZ_CHECK(!once.empty() && once.front() == '/');
    FUZZ_CHECK(once.find("//") == std::string::npos);
    FUZZ_CHECK(once.find("/./") == std::string::npos && once.find("/../") == std::string::npos);
    FUZZ_CHECK(!once.ends_with("/.") && !once.ends_with("/.."));
    for (std::size_t i = 0; i < once.size(); ++i) {
        if (once[i] != '%') continue;
        FUZZ_CHECK(i + 2 < once.size());
        int hi = hex(once[i + 1]), lo = hex(once[i + 2]);
        FUZZ_CHECK(hi >= 0 && lo >= 0);
        FUZZ_CHECK(!unreserved(static_cast<unsigned char>(hi * 16 + lo)));
    }
    return 0;
}
