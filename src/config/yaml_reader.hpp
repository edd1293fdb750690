#pragma once
// Reads one YAML mapping against a fixed set of keys: every key read is remembered, and
// finish() reports the keys nobody asked for (with a "did you mean"). Type errors become
// diagnostics at the node's line and column; nothing here throws.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/config/diagnostics.hpp"
#include "gatehouse/config/units.hpp"

namespace gatehouse::config {

source_mark mark_of(const YAML::Node& n);

class map_reader {
public:
    // Reports an error (and reads nothing) when `node` is not a mapping.
    map_reader(const YAML::Node& node, std::string path, diagnostics& d, std::vector<std::string> known);

    bool ok() const { return ok_; }
    const std::string& path() const { return path_; }
    diagnostics& diags() { return d_; }
    std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

    // The raw node for `key` (undefined node when absent).
    YAML::Node get(const std::string& key);
    bool has(const std::string& key) const;

    std::optional<std::string> string(const std::string& key);
    std::optional<std::int64_t> integer(const std::string& key, std::int64_t min, std::int64_t max);
    std::optional<bool> boolean(const std::string& key);
    std::optional<duration> duration_value(const std::string& key);
    std::optional<std::chrono::microseconds> short_duration_value(const std::string& key);
    std::optional<std::uint64_t> size_value(const std::string& key);
    std::optional<std::vector<std::string>> string_list(const std::string& key);

    void error(const std::string& key, std::string message);  // at the key's value
    void finish();                                            // unknown keys -> errors

private:
    YAML::Node node_;
    std::string path_;
    diagnostics& d_;
    std::vector<std::string> known_;
    bool ok_ = true;
};

// Scalars outside a map.
std::optional<std::string> scalar_of(const YAML::Node& n, const std::string& path, diagnostics& d);

}  // namespace gatehouse::config
