// gRPC-Web's byte transformations (src/grpc/web.hpp) and the gRPC message boundary tracker
// (src/grpc/frames.hpp), fed the input in fuzzer-chosen pieces:
// - a text-mode request body decodes the same (accepted or not, and to the same bytes) however
//   it is split;
// - what the response encoder makes of any body and trailers (text mode) decodes back to that
//   body followed by the trailer frame, split anywhere;
// - message_boundary says "on a boundary" after exactly the prefixes that end a whole message,
//   as a reading of the whole body at once finds them.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "grpc/frames.hpp"
#include "grpc/web.hpp"

using namespace gatehouse;

namespace {

std::vector<std::string_view> pieces(fuzz::input& in, std::string_view body) {
    std::vector<std::string_view> out;
    while (!body.empty()) {
        const std::size_t n = std::min<std::size_t>(body.size(), 1 + in.byte() % 9);
        out.push_back(body.substr(0, n));
        body.remove_prefix(n);
    }
    return out;
}

void decode_split_and_whole(fuzz::input& in, std::string_view body) {
    grpc::web_request_decoder whole(true), split(true);
    std::string a, b;
    const bool whole_ok = whole.feed(body, a);
    bool split_ok = true;
    for (auto p : pieces(in, body))
        if (!(split_ok = split.feed(p, b))) break;
    FUZZ_CHECK(whole_ok == split_ok);
    if (whole_ok) {
        FUZZ_CHECK(a == b);
        FUZZ_CHECK(whole.complete() == split.complete());
    }
}

void encode_then_decode(fuzz::input& in, std::string_view body) {
    grpc::web_response_encoder enc(true);
    std::string encoded;
    for (auto p : pieces(in, body)) enc.data(p, encoded);
    const std::vector<http::field> trailers{{"grpc-status", "0"}, {"grpc-message", body.substr(0, body.size() % 17)}};
    enc.end(trailers, encoded);
    grpc::web_request_decoder dec(true);
    std::string decoded;
    for (auto p : pieces(in, encoded)) FUZZ_CHECK(dec.feed(p, decoded));
    FUZZ_CHECK(dec.complete());
    std::string block;
    grpc::append_trailer_block(block, trailers);
    FUZZ_CHECK(decoded.size() == body.size() + 5 + block.size());
    FUZZ_CHECK(decoded.compare(0, body.size(), body) == 0);
    FUZZ_CHECK(static_cast<unsigned char>(decoded[body.size()]) == 0x80);
    FUZZ_CHECK(decoded.compare(body.size() + 5, std::string::npos, block) == 0);
}

// Where whole messages end, reading the body at once: the prefix lengths after which a new
// message would begin.
std::vector<bool> boundaries(std::string_view body) {
    std::vector<bool> at(body.size() + 1, false);
    at[0] = true;
    std::size_t pos = 0;
    while (pos + 5 <= body.size()) {
        const auto b = [&](std::size_t i) { return static_cast<std::uint64_t>(static_cast<unsigned char>(body[pos + i])); };
        const std::uint64_t len = (b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4);
        if (len > body.size() - pos - 5) break;
        pos += 5 + len;
        at[pos] = true;
    }
    return at;
}

void message_boundaries(fuzz::input& in, std::string_view body) {
    const auto expected = boundaries(body);
    grpc::message_boundary m;
    std::size_t fed = 0;
    for (auto p : pieces(in, body)) {
        m.feed(p);
        fed += p.size();
        FUZZ_CHECK(m.at_boundary() == expected[fed]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::input in{fuzz::as_text(data, size)};
    const auto mode = in.byte();
    const auto split = std::min<std::size_t>(in.byte() * 4u, in.rest.size());
    fuzz::input steer{in.rest.substr(0, split)};  // the split points
    const auto body = in.rest.substr(split);
    if (mode % 3 == 0) decode_split_and_whole(steer, body);
    else if (mode % 3 == 1) encode_then_decode(steer, body);
    else message_boundaries(steer, body);
    return 0;
}
