#include "yaml_reader.hpp"

#include <algorithm>
#include <charconv>

namespace gatehouse::config {

source_mark mark_of(const YAML::Node& n) {
    auto m = n.Mark();
    if (m.line < 0) return {};
    return {m.line + 1, m.column + 1};
}

map_reader::map_reader(const YAML::Node& node, std::string path, diagnostics& d, std::vector<std::string> known)
    : node_(node), path_(std::move(path)), d_(d), known_(std::move(known)) {
    if (!node_.IsMap()) {
        ok_ = false;
        d_.error(mark_of(node_), path_, node_.IsDefined() && !node_.IsNull() ? "expected a mapping" : "expected a mapping, found nothing");
    }
}

bool map_reader::has(const std::string& key) const { return ok_ && node_[key].IsDefined() && !node_[key].IsNull(); }

YAML::Node map_reader::get(const std::string& key) {
    if (!ok_) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& cn = node_;
    return cn[key];
}

void map_reader::error(const std::string& key, std::string message) { d_.error(mark_of(get(key)), child_path(key), std::move(message)); }

std::optional<std::string> scalar_of(const YAML::Node& n, const std::string& path, diagnostics& d) {
    if (!n.IsScalar()) {
        d.error(mark_of(n), path, "expected a scalar value");
        return std::nullopt;
    }
    return n.Scalar();
}

std::optional<std::string> map_reader::string(const std::string& key) {
    auto n = get(key);
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    return scalar_of(n, child_path(key), d_);
}

std::optional<std::int64_t> map_reader::integer(const std::string& key, std::int64_t min, std::int64_t max) {
    auto s = string(key);
    if (!s) return std::nullopt;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size()) {
        error(key, "expected an integer, found '" + *s + "'");
        return std::nullopt;
    }
    if (v < min || v > max) {
        error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return std::nullopt;
    }
    return v;
}

std::optional<bool> map_reader::boolean(const std::string& key) {
    auto s = string(key);
    if (!s) return std::nullopt;
    if (*s == "true") return true;
    if (*s == "false") return false;
    error(key, "expected true or false, found '" + *s + "'");
    return std::nullopt;
}

std::optional<duration> map_reader::duration_value(const std::string& key) {
    auto s = string(key);
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) error(key, "expected a duration such as 250ms, 5s, 2m, 1h or 1d, found '" + *s + "'");
    return d;
}

std::optional<std::chrono::microseconds> map_reader::short_duration_value(const std::string& key) {
    auto s = string(key);
    if (!s) return std::nullopt;
    auto d = parse_short_duration(*s);
    if (!d) error(key, "expected a short duration such as 50us or 1ms (at most 1s), found '" + *s + "'");
    return d;
}

std::optional<std::uint64_t> map_reader::size_value(const std::string& key) {
    auto s = string(key);
    if (!s) return std::nullopt;
    auto v = parse_size(*s);
    if (!v) error(key, "expected a size such as 16384, 512KiB or 10MiB, found '" + *s + "'");
    return v;
}

std::optional<std::vector<std::string>> map_reader::string_list(const std::string& key) {
    auto n = get(key);
    if (!n.IsDefined() || n.IsNull()) return std::nullopt;
    if (!n.IsSequence()) {
        error(key, "expected a list");
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
        auto s = scalar_of(n[i], child_path(key) + "[" + std::to_string(i) + "]", d_);
        if (s) out.push_back(*s);
    }
    return out;
}

void map_reader::finish() {
    if (!ok_) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string("?");
        if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
        std::string msg = "unknown key '" + key + "'";
        auto guess = did_you_mean(key, known_);
        if (!guess.empty()) msg += " (did you mean '" + guess + "'?)";
        d_.error(mark_of(it->first), child_path(key), msg);
    }
}

}  // namespace gatehouse::config
