// The RESP parser (src/redis/resp.cpp) reading what a Redis server (or whatever answers on its
// port) sends to the shared rate limiter. A value that parses, written out again, parses to the
// same value; every strict prefix of it is incomplete (never a different value, never an error),
// as the connection calls the parser again each time more bytes arrive.
#include <string>

#include "fuzz_check.hpp"
#include "redis/resp.hpp"

using namespace gatehouse::redis;

namespace {

void write(const value& v, std::string& out) {
    switch (v.type) {
        case value::kind::simple: out += "+" + v.text + "\r\n"; break;
        case value::kind::error: out += "-" + v.text + "\r\n"; break;
        case value::kind::integer: out += ":" + std::to_string(v.integer) + "\r\n"; break;
        case value::kind::bulk: out += "$" + std::to_string(v.text.size()) + "\r\n" + v.text + "\r\n"; break;
        case value::kind::null: out += "$-1\r\n"; break;
        case value::kind::array:
            out += "*" + std::to_string(v.elements.size()) + "\r\n";
            for (auto& e : v.elements) write(e, out);
            break;
    }
}

bool same(const value& a, const value& b) {
    if (a.type != b.type || a.text != b.text || a.integer != b.integer || a.elements.size() != b.elements.size()) return false;
    for (std::size_t i = 0; i < a.elements.size(); ++i)
        if (!same(a.elements[i], b.elements[i])) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    gatehouse::fuzz::input in{gatehouse::fuzz::as_text(data, size)};
    const std::size_t cut = in.byte();
    auto text = in.rest;
    value v;
    std::size_t used = 0;
    auto st = parse(text, v, used);
    if (st != parse_status::done) {
        FUZZ_CHECK(used == 0);
        return 0;
    }
    FUZZ_CHECK(used > 0 && used <= text.size());
    for (std::size_t prefix : {used - 1, cut % used}) {
        value p;
        std::size_t n = 0;
        FUZZ_CHECK(parse(text.substr(0, prefix), p, n) == parse_status::incomplete);
    }
    std::string again;
    write(v, again);
    value w;
    std::size_t n = 0;
    FUZZ_CHECK(parse(again, w, n) == parse_status::done && n == again.size());
    FUZZ_CHECK(same(v, w));
    return 0;
}
