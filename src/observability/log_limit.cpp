#include "observability/log_limit.hpp"

#include <chrono>
#include <string>
#include <unordered_map>

#include "util/digest.hpp"

namespace gatehouse::observability {

namespace {
struct cause_state {
    std::chrono::steady_clock::time_point last;
    std::uint64_t folded = 0;
};
constexpr std::size_t k_max_causes = 1024;  // per thread; beyond it the table starts over
}  // namespace

bool log_now(const void* site, std::string_view cause, std::uint64_t& folded) {
    thread_local std::unordered_map<std::string, cause_state, util::string_hash, std::equal_to<>> seen;
    thread_local std::string key;
    key.assign(reinterpret_cast<const char*>(&site), sizeof site);
    key += cause;
    const auto now = std::chrono::steady_clock::now();
    auto it = seen.find(key);
    if (it == seen.end()) {
        if (seen.size() >= k_max_causes) seen.clear();
        seen.emplace(key, cause_state{now, 0});
        folded = 0;
        return true;
    }
    if (now - it->second.last < std::chrono::seconds(1)) {
        ++it->second.folded;
        return false;
    }
    folded = it->second.folded;
    it->second = {now, 0};
    return true;
}

}  // namespace gatehouse::observability
