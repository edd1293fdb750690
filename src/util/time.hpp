#pragma once
// Wall-clock instants as the admin API and logs write them.
#include <chrono>
#include <ctime>
#include <string>

namespace gatehouse::util {

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
