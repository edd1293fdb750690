#pragma once
// Worker-side warnings that an outage can repeat thousands of times a second (a refused
// connect per request): one line per distinct cause per second on each thread, and the next line
// of that cause says how many were folded into it. The logger itself is asynchronous (main.cpp):
// a worker formats the line and queues it, a background thread writes it.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <string_view>

namespace gatehouse::observability {

// Whether a line for (site, cause) may go out now; `folded` is how many were held back since the
// last. `site` tells apart the places that log (the format string), `cause` what they log about
// (an endpoint, an upstream).
bool log_now(const void* site, std::string_view cause, std::uint64_t& folded);

// spdlog::warn(fmt, args...) at most once per second per cause and thread, with " (N more like
// this)" appended when lines were folded.
template <class... Args>
void warn_limited(std::string_view cause, spdlog::format_string_t<Args...> fmt, Args&&... args) {
    std::uint64_t folded = 0;
    if (!log_now(static_cast<fmt::string_view>(fmt).data(), cause, folded)) return;
    if (folded == 0) spdlog::warn(fmt, std::forward<Args>(args)...);
    else spdlog::warn("{} ({} more like this since the last line)", fmt::format(fmt, std::forward<Args>(args)...), folded);
}

}  // namespace gatehouse::observability
