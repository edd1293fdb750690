#include "gatehouse/config/diagnostics.hpp"

#include <algorithm>

namespace gatehouse::config {

std::string diagnostic::to_string() const {
    std::string s = file;
    s += ':' + std::to_string(mark.line) + ':' + std::to_string(mark.column) + ": ";
    if (!path.empty()) s += path + ": ";
    if (level == severity::warning) s += "warning: ";
    s += message;
    return s;
}

void diagnostics::error(source_mark m, std::string path, std::string message) {
    items_.push_back({file_, m, std::move(path), std::move(message), severity::error});
}

void diagnostics::warning(source_mark m, std::string path, std::string message) {
    items_.push_back({file_, m, std::move(path), std::move(message), severity::warning});
}

bool diagnostics::has_errors() const {
    return std::any_of(items_.begin(), items_.end(), [](const diagnostic& d) { return d.level == severity::error; });
}

std::string diagnostics::to_string() const {
    std::string s;
    for (auto& d : items_) s += d.to_string() + '\n';
    return s;
}

namespace {
std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}
}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_d = word.size() / 2 + 2;  // no suggestion for wild guesses
    for (auto& c : candidates) {
        auto d = edit_distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

}  // namespace gatehouse::config
