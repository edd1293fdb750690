#pragma once
// What a client's frames cost against what they carry, read from the 9-byte frame headers as the
// bytes stream by, before nghttp2 sees them (so frames nghttp2 ignores without a callback, such
// as unknown extension types or frames for closed streams, are counted too).
//
// CVE-2019-9512/9515/9516/9518 and their kin: a peer can keep a server busy with frames that
// carry no request (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA, unknown types). They
// are allowed in a burst and then in proportion to frames that carry work (request HEADERS, DATA
// with a payload, and the response frames gatehouse sends); past that the connection is flooded.
// RST_STREAM is counted by the Rapid Reset rule, CONTINUATION bounded by the header limits.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gatehouse::http2 {

class frame_meter {
public:
    static constexpr std::uint64_t k_burst = 1000, k_per_productive = 8;
    static constexpr std::size_t k_preface = 24;

    void feed(std::string_view bytes) {
        while (!bytes.empty()) {
            if (skip_ > 0) {
                const auto n = bytes.size() < skip_ ? bytes.size() : skip_;
                skip_ -= n;
                bytes.remove_prefix(n);
                continue;
            }
            head_[have_++] = static_cast<std::uint8_t>(bytes.front());
            bytes.remove_prefix(1);
            if (have_ == sizeof head_) frame_header();
        }
    }
    void productive() { ++productive_; }
    bool flooded() const { return control_ > k_burst + k_per_productive * productive_; }
    std::uint64_t control() const { return control_; }
    std::uint64_t productive_count() const { return productive_; }

private:
    void frame_header() {
        have_ = 0;
        const std::size_t length = (std::size_t{head_[0]} << 16) | (std::size_t{head_[1]} << 8) | head_[2];
        const std::uint8_t type = head_[3], flags = head_[4];
        skip_ = length;
        constexpr std::uint8_t end_stream = 0x1, padded = 0x8;
        switch (type) {
            case 0x0:  // DATA: a payload is work; an empty (or padding-only sized) one without END_STREAM is not
                if (length > 0 && !((flags & padded) && length <= 256)) ++productive_;
                else if (!(flags & end_stream)) ++control_;
                return;
            case 0x1: ++productive_; return;  // HEADERS: a request, or its trailers
            case 0x3:                         // RST_STREAM
            case 0x7:                         // GOAWAY
            case 0x9: return;                 // CONTINUATION
            default: ++control_;              // PRIORITY, SETTINGS, PUSH_PROMISE, PING, WINDOW_UPDATE, unknown
        }
    }

    std::size_t skip_ = k_preface;
    std::uint8_t head_[9] = {};
    std::size_t have_ = 0;
    std::uint64_t control_ = 0, productive_ = 0;
};

}  // namespace gatehouse::http2
