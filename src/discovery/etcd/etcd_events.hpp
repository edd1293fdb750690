#pragma once
// etcd v3 JSON-gateway messages, as data: the range response that starts a sync, the watch
// messages that follow, and the endpoint a key's value describes. No I/O here (unit-tested
// from recorded JSON).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "gatehouse/discovery/provider.hpp"

namespace gatehouse::discovery::etcd {

// The end of the key range that holds every key starting with `prefix` (etcd's "prefix end").
std::string prefix_end(const std::string& prefix);

// A key's value: {"address": "10.0.0.9:8080", "weight": 3, "priority": 0, "zone": "a"} or the
// bare string "10.0.0.9:8080". nullopt (and `error`) when it is neither.
std::optional<endpoint_spec> parse_value(const std::string& key, const std::string& value, std::string& error);

// What the provider knows: every key under the prefix with its endpoint (or its parse error),
// and the revision it has seen up to.
struct key_state {
    std::map<std::string, std::optional<endpoint_spec>> keys;
    std::map<std::string, std::string> invalid;  // key -> why its value was refused
    std::int64_t revision = 0;
    void put(const std::string& key, const std::string& value);
    void erase(const std::string& key);
    std::vector<endpoint_spec> endpoints() const;
};

// Reads a /v3/kv/range response into a fresh state. False (and `error`) when it is not one.
bool read_range(const nlohmann::json& response, key_state& st, std::string& error);

enum class watch_action {
    none,     // created, progress notification: nothing changed
    changed,  // events applied
    resync,   // compacted, cancelled, or the revision went backwards (etcd restored): read again
    error,    // not a watch message, or an error from etcd
};
watch_action apply_watch_message(const nlohmann::json& message, key_state& st, std::string& error);

// Splits complete JSON objects off the front of a stream of concatenated (or newline-separated)
// objects; returns how many bytes were used. Objects are appended to `out`.
std::size_t split_json_stream(std::string_view data, std::vector<std::string_view>& out);

}  // namespace gatehouse::discovery::etcd
