#include <gtest/gtest.h>

#include "middleware/rate_limit/gcra.hpp"
#include "middleware/rate_limit/local_table.hpp"
#include "middleware/rate_limit/rate_limit.hpp"
#include "redis/resp.hpp"

using namespace gatehouse;
using namespace gatehouse::middleware::rate_limit;

namespace {

constexpr std::int64_t ms = 1'000'000;  // ns
gcra_params per_second(std::int64_t n, std::int64_t burst) { return {1000 * ms / n, burst * (1000 * ms / n)}; }

}  // namespace

TEST(Gcra, AFreshKeyTakesBurstPlusOneAtOnceThenTheNextIsRefused) {
    auto p = per_second(10, 4);  // T = 100 ms, tau = 400 ms
    std::int64_t now = 1'000'000 * ms, tat = 0;
    for (int i = 0; i < 5; ++i) {
        auto r = gcra_check(tat, now, p);
        ASSERT_TRUE(r.allowed) << i;
        EXPECT_EQ(r.remaining, static_cast<std::uint64_t>(4 - i)) << "Remaining must be true";
        tat = r.tat;
    }
    auto r = gcra_check(tat, now, p);
    EXPECT_FALSE(r.allowed);  // the request after r=0
    EXPECT_EQ(r.remaining, 0u);
    EXPECT_EQ(r.reset, 100 * ms);  // one emission interval until the next fits
    EXPECT_EQ(r.tat, tat);         // a refusal does not consume
}

TEST(Gcra, RefillsExactlyAtTheEmissionInterval) {
    auto p = per_second(10, 0);  // strict pacing: one per 100 ms
    std::int64_t now = 5'000 * ms;
    auto a = gcra_check(0, now, p);
    ASSERT_TRUE(a.allowed);
    EXPECT_EQ(a.remaining, 0u);
    EXPECT_FALSE(gcra_check(a.tat, now + 100 * ms - 1, p).allowed);  // 1 ns early
    auto b = gcra_check(a.tat, now + 100 * ms, p);                   // exactly on time
    EXPECT_TRUE(b.allowed);
    EXPECT_EQ(b.tat, now + 200 * ms);
}

TEST(Gcra, LongIdleDoesNotBankMoreThanTheBurst) {
    auto p = per_second(10, 2);
    auto r = gcra_check(1 * ms, 3'600'000 * ms, p);  // an hour later
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.remaining, 2u);
}

TEST(Gcra, AdmittedOverTimeIsRateTimesTimePlusBurst) {
    auto p = per_second(100, 50);
    std::int64_t tat = 0, admitted = 0;
    for (std::int64_t t = 0; t < 10'000 * ms; t += ms / 4)  // 4000 requests/s for 10 s
        if (auto r = gcra_check(tat, t, p); r.allowed) {
            tat = r.tat;
            ++admitted;
        }
    EXPECT_NEAR(static_cast<double>(admitted), 100 * 10 + 50 + 1, 2);
}

TEST(Gcra, CeilSeconds) {
    EXPECT_EQ(ceil_seconds(0), 0);
    EXPECT_EQ(ceil_seconds(1), 1);
    EXPECT_EQ(ceil_seconds(1'000'000'000), 1);
    EXPECT_EQ(ceil_seconds(1'000'000'001), 2);
}

TEST(RateParse, UnitsAndErrors) {
    EXPECT_EQ(parse_rate("100/s")->first, 100);
    EXPECT_EQ(parse_rate("100/s")->second, std::chrono::seconds(1));
    EXPECT_EQ(parse_rate("5/m")->second, std::chrono::seconds(60));
    EXPECT_EQ(parse_rate("5/h")->second, std::chrono::seconds(3600));
    EXPECT_EQ(parse_rate("10000/d")->second, std::chrono::seconds(86400));
    for (auto bad : {"", "100", "0/s", "-1/s", "10/w", "1.5/s", "/s", "10/", "10/ss"}) EXPECT_FALSE(parse_rate(bad)) << bad;
}

TEST(LocalTable, KeyCapForgetsExpiredKeysFirstAndCountsHits) {
    local_table t(64);  // one key per shard
    const std::int64_t now = 1000;
    auto put = [&](const std::string& k, std::int64_t tat) {
        auto& s = t.shard_for(k);
        std::lock_guard lock(s.mu);
        t.put(s, k, tat, now);
    };
    for (int i = 0; i < 10'000; ++i) put("expired-" + std::to_string(i), now - 1);  // already forgotten in GCRA terms
    EXPECT_LE(t.size(), t.max_keys());
    EXPECT_EQ(t.cap_hits(), 0u) << "expired keys make room without a cap hit";
    for (int i = 0; i < 10'000; ++i) put("live-" + std::to_string(i), now + 1'000'000);
    EXPECT_LE(t.size(), t.max_keys());
    EXPECT_GT(t.cap_hits(), 0u);
}

TEST(Resp, EveryReplyType) {
    redis::value v;
    std::size_t used = 0;
    ASSERT_EQ(redis::parse("+OK\r\n", v, used), redis::parse_status::done);
    EXPECT_EQ(v.type, redis::value::kind::simple);
    EXPECT_EQ(v.text, "OK");
    EXPECT_EQ(used, 5u);
    ASSERT_EQ(redis::parse("-NOSCRIPT No matching script\r\n", v, used), redis::parse_status::done);
    EXPECT_TRUE(v.is_error());
    EXPECT_EQ(v.text, "NOSCRIPT No matching script");
    ASSERT_EQ(redis::parse(":-42\r\n", v, used), redis::parse_status::done);
    EXPECT_EQ(v.integer, -42);
    ASSERT_EQ(redis::parse("$5\r\nhe\r\no\r\n", v, used), redis::parse_status::done);  // binary-safe
    EXPECT_EQ(v.text, "he\r\no");
    ASSERT_EQ(redis::parse("$-1\r\n", v, used), redis::parse_status::done);
    EXPECT_EQ(v.type, redis::value::kind::null);
    ASSERT_EQ(redis::parse("*-1\r\n", v, used), redis::parse_status::done);
    EXPECT_EQ(v.type, redis::value::kind::null);
    ASSERT_EQ(redis::parse("*0\r\n", v, used), redis::parse_status::done);
    EXPECT_EQ(v.type, redis::value::kind::array);
    EXPECT_TRUE(v.elements.empty());
}

TEST(Resp, NestedArraysAndPipelinedReplies) {
    std::string in = "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n:7\r\n";
    redis::value v;
    std::size_t used = 0;
    ASSERT_EQ(redis::parse(in, v, used), redis::parse_status::done);
    ASSERT_EQ(v.elements.size(), 3u);
    EXPECT_EQ(v.elements[1].elements[0].text, "a");
    EXPECT_EQ(v.elements[1].elements[1].type, redis::value::kind::null);
    EXPECT_EQ(v.elements[2].text, "x");
    ASSERT_EQ(redis::parse(std::string_view(in).substr(used), v, used), redis::parse_status::done);
    EXPECT_EQ(v.integer, 7);
}

TEST(Resp, SplitAtEveryByteIsIncompleteUntilTheEnd) {
    std::string in = "*2\r\n$3\r\nfoo\r\n:12345\r\n";
    for (std::size_t cut = 0; cut < in.size(); ++cut) {
        redis::value v;
        std::size_t used = 0;
        EXPECT_EQ(redis::parse(std::string_view(in).substr(0, cut), v, used), redis::parse_status::incomplete) << cut;
        EXPECT_EQ(used, 0u);
    }
    redis::value v;
    std::size_t used = 0;
    EXPECT_EQ(redis::parse(in, v, used), redis::parse_status::done);
    EXPECT_EQ(used, in.size());
}

TEST(Resp, GarbageIsBad) {
    redis::value v;
    std::size_t used = 0;
    for (auto bad : {"?x\r\n", ":12a\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n", "$99999999999\r\n"})
        EXPECT_EQ(redis::parse(bad, v, used), redis::parse_status::bad) << bad;
    std::string deep;
    for (int i = 0; i < 20; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    EXPECT_EQ(redis::parse(deep, v, used), redis::parse_status::bad) << "nesting is bounded";
}

TEST(Resp, CommandEncoding) {
    std::string out;
    redis::append_command(out, {"SET", "k", ""});
    EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(Resp, CommandNameForItsSpan) {
    std::string out;
    redis::append_command(out, {"EVALSHA", "0123", "1", "k"});
    EXPECT_EQ(redis::command_name(out), "EVALSHA");
    EXPECT_EQ(redis::command_name("*1\r\n$7\r\nEVAL"), "");  // cut short
    EXPECT_EQ(redis::command_name("+OK\r\n"), "");
    EXPECT_EQ(redis::command_name(""), "");
}
