// The HTTP/2 flood meter (src/http2/frame_meter.hpp): frames counted from their headers as bytes
// stream by, whatever way the bytes are split.
#include <gtest/gtest.h>

#include <string>

#include "http2/frame_meter.hpp"

using gatehouse::http2::frame_meter;

namespace {

std::string frame(std::uint8_t type, std::uint8_t flags, std::string payload = {}) {
    std::string f;
    f += static_cast<char>(payload.size() >> 16);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size());
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    f += std::string("\0\0\0\1", 4);
    return f + payload;
}

const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

TEST(FrameMeter, ControlFramesPastTheBurstFlood) {
    frame_meter m;
    m.feed(preface + frame(4, 0));  // the client's SETTINGS
    std::string pings;
    for (int i = 0; i < 999; ++i) pings += frame(6, 0, std::string(8, 'p'));
    m.feed(pings);
    EXPECT_EQ(m.control(), 1000u);
    EXPECT_FALSE(m.flooded());
    m.feed(frame(8, 0, std::string(4, '\0')));  // one WINDOW_UPDATE more
    EXPECT_TRUE(m.flooded());
}

TEST(FrameMeter, WorkEarnsRoomForControlFrames) {
    frame_meter m;
    m.feed(preface);
    for (int i = 0; i < 1100; ++i) {
        m.feed(frame(0, 0, "body"));                  // DATA with a payload
        m.feed(frame(8, 0, std::string(4, '\0')));  // and a WINDOW_UPDATE for it
    }
    EXPECT_FALSE(m.flooded());
    EXPECT_EQ(m.productive_count(), 1100u);
}

TEST(FrameMeter, EmptyDataCountsUnlessItEndsTheStream) {
    frame_meter m;
    m.feed(preface + frame(0, 0) + frame(0, 1) + frame(0, 0x8, std::string(200, '\0')) + frame(0xFA, 0, "x") + frame(3, 0, "0000") +
           frame(9, 4, "h"));
    EXPECT_EQ(m.control(), 3u);  // the empty DATA, the padding-only one, the unknown type
    EXPECT_EQ(m.productive_count(), 0u);
}

TEST(FrameMeter, HeadersSplitAcrossReadsAreFollowed) {
    frame_meter m;
    const std::string bytes = preface + frame(1, 5, "hpack") + frame(6, 0, std::string(8, 'p')) + frame(0, 1, "last");
    for (char c : bytes) m.feed(std::string_view(&c, 1));  // one byte at a time
    EXPECT_EQ(m.control(), 1u);
    EXPECT_EQ(m.productive_count(), 2u);
}
