#pragma once
// Instants as gatehouse stores and writes them: steady time as nanoseconds (what atomics hold),
// wall-clock time as the admin API and logs write it.
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace gatehouse::util {

// Nanoseconds since the steady clock's epoch: breakers, endpoint health and rate tables keep
// instants in std::atomic<std::int64_t>.
constexpr std::int64_t ns_of(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// "2026-12-01T10:00:02Z" (UTC, whole seconds).
inline std::string iso_utc(std::chrono::system_clock::time_point t) {
    auto tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace gatehouse::util
