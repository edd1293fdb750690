#pragma once
// The TATs of one limit in this process, shared by every worker: 64 shards, each a mutex and a
// hash map, so two workers contend only when their keys hash to the same shard (never one lock
// for the whole table). Bounded: at most max_keys keys; a full shard first forgets keys whose
// TAT has passed (exactly the same as never having seen them), then the key closest to that,
// and counts a cap hit.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatehouse::middleware::rate_limit {

class local_table {
public:
    static constexpr std::size_t k_shards = 64;

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    struct alignas(64) shard {
        std::mutex mu;
        std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>> tat;
    };

    explicit local_table(std::size_t max_keys) : shard_cap_(std::max<std::size_t>(1, (max_keys + k_shards - 1) / k_shards)) {}

    shard& shard_for(std::string_view key) { return shards_[string_hash{}(key) % k_shards]; }

    // With the shard's lock held. A key never seen reads as 0 (always <= now).
    static std::int64_t get(const shard& s, std::string_view key) {
        auto it = s.tat.find(key);
        return it == s.tat.end() ? 0 : it->second;
    }
    void put(shard& s, std::string_view key, std::int64_t tat, std::int64_t now);

    std::size_t size() const;  // keys tracked (approximate while requests run)
    std::uint64_t cap_hits() const { return cap_hits_.load(std::memory_order_relaxed); }
    std::size_t max_keys() const { return shard_cap_ * k_shards; }

private:
    std::array<shard, k_shards> shards_;
    std::size_t shard_cap_;
    std::atomic<std::uint64_t> cap_hits_{0};
    std::atomic<std::int64_t> keys_{0};
};

}  // namespace gatehouse::middleware::rate_limit
