// The compress middleware's logic: Accept-Encoding weights and the choice among codings, and the
// encoders' streaming contract (every write flushed: what was written so far decodes).
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <string>

#include "middleware/compress/coding.hpp"
#include "middleware/compress/encoder.hpp"

namespace gatehouse::middleware::compress {
namespace {

constexpr std::array<coding, 3> k_ours{coding::zstd, coding::br, coding::gzip};

std::optional<coding> pick(std::string_view accept, std::span<const coding> ours = k_ours) {
    accepted_codings a;
    a.add(accept);
    return a.choose(ours);
}

TEST(AcceptEncoding, QValues) {
    EXPECT_EQ(parse_qvalue("1"), 1000);
    EXPECT_EQ(parse_qvalue("1.000"), 1000);
    EXPECT_EQ(parse_qvalue("0.5"), 500);
    EXPECT_EQ(parse_qvalue("0.125"), 125);
    EXPECT_EQ(parse_qvalue("0"), 0);
    EXPECT_EQ(parse_qvalue("0."), 0);
    EXPECT_FALSE(parse_qvalue("1.5"));
    EXPECT_FALSE(parse_qvalue("2"));
    EXPECT_FALSE(parse_qvalue("0.1234"));
    EXPECT_FALSE(parse_qvalue(".5"));
    EXPECT_FALSE(parse_qvalue(""));
}

TEST(AcceptEncoding, HighestWeightThenOurOrder) {
    EXPECT_EQ(pick("gzip"), coding::gzip);
    EXPECT_EQ(pick("gzip, br"), coding::br);
    EXPECT_EQ(pick("gzip;q=0.9, br;q=0.8"), coding::gzip);
    EXPECT_EQ(pick("GZIP ; Q=0.9 , br ;q=0.8"), coding::gzip);
    EXPECT_EQ(pick("deflate, gzip;q=0.1"), coding::gzip);
    EXPECT_EQ(pick("*"), coding::zstd);
    EXPECT_EQ(pick("zstd;q=0, *"), coding::br);
    EXPECT_EQ(pick("br;q=0.2, *;q=0.5"), coding::zstd);
    EXPECT_EQ(pick("gzip;level=1;q=0.3"), coding::gzip) << "other parameters are ignored";
    EXPECT_FALSE(pick(""));
    EXPECT_FALSE(pick("identity"));
    EXPECT_FALSE(pick("gzip;q=0"));
    EXPECT_FALSE(pick("*;q=0"));
    EXPECT_FALSE(pick("gzip;q=x, br;q"));
    EXPECT_FALSE(pick(",,, ;q=1"));
    std::array<coding, 1> only_gzip{coding::gzip};
    EXPECT_EQ(pick("br, zstd, gzip;q=0.01", only_gzip), coding::gzip);
    EXPECT_FALSE(pick("br, zstd", only_gzip));
}

TEST(AcceptEncoding, SeveralFieldsCombine) {
    accepted_codings a;
    a.add("gzip;q=0.1");
    a.add("br;q=0.2");
    EXPECT_EQ(a.choose(k_ours), coding::br);
    a.add("gzip");
    EXPECT_EQ(a.choose(k_ours), coding::gzip) << "the highest weight a coding was given counts";
}

std::string inflate_all(const std::string& gz, bool* finished) {
    z_stream z{};
    inflateInit2(&z, 16 + MAX_WBITS);
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    z.avail_in = static_cast<uInt>(gz.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_SYNC_FLUSH);
    *finished = rc == Z_STREAM_END;
    out.resize(out.size() - z.avail_out);
    inflateEnd(&z);
    return out;
}

TEST(Encoder, GzipFlushesEveryWriteAndIsReusedReset) {
    for (int round = 0; round < 2; ++round) {
        auto e = acquire(coding::gzip, 6);
        ASSERT_TRUE(e);
        ASSERT_TRUE(e->begin(std::nullopt));
        std::string out;
        ASSERT_TRUE(e->write("data: one\n\n", false, out));
        bool finished = true;
        EXPECT_EQ(inflate_all(out, &finished), "data: one\n\n") << "decodable before the stream ends";
        EXPECT_FALSE(finished);
        std::string big(300000, 'a');
        ASSERT_TRUE(e->write(big, false, out));
        ASSERT_TRUE(e->write("", true, out));
        EXPECT_EQ(inflate_all(out, &finished), "data: one\n\n" + big);
        EXPECT_TRUE(finished);
    }
}

TEST(Encoder, ZstdWithAPledgedSizeAndWithout) {
    for (std::optional<std::uint64_t> size : {std::optional<std::uint64_t>(12), std::optional<std::uint64_t>()}) {
        auto e = acquire(coding::zstd, 3);
        ASSERT_TRUE(e && e->begin(size));
        std::string out;
        ASSERT_TRUE(e->write("hello ", false, out));
        ASSERT_TRUE(e->write("world!", true, out));
        std::string back(64, '\0');
        auto n = ZSTD_decompress(back.data(), back.size(), out.data(), out.size());
        ASSERT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
        back.resize(n);
        EXPECT_EQ(back, "hello world!");
    }
}

TEST(Encoder, LevelsPerCoding) {
    EXPECT_EQ(levels_of(coding::gzip).max, 9);
    EXPECT_EQ(levels_of(coding::br).max, 11);
    EXPECT_EQ(levels_of(coding::zstd).max, 19);
    auto a = acquire(coding::br, 4);
    auto* raw = a.get();
    a.reset();
    auto b = acquire(coding::br, 5);
    EXPECT_NE(b.get(), raw) << "a pooled encoder is only reused at its own level";
    auto c = acquire(coding::br, 4);
    EXPECT_EQ(c.get(), raw);
}

}  // namespace
}  // namespace gatehouse::middleware::compress
