#pragma once
// Problems found while loading a config, each pointing at the YAML node that caused it.
#include <string>
#include <vector>

namespace gatehouse::config {

struct source_mark {
    int line = 0;  // 1-based; 0 when unknown
    int column = 0;
};

enum class severity { error, warning };

struct diagnostic {
    std::string file;
    source_mark mark;
    std::string path;  // key path, e.g. routes[2].match.path_prefix
    std::string message;
    severity level = severity::error;

    // "file:line:col: key.path: reason" (warnings say "warning: " before the reason).
    std::string to_string() const;
};

class diagnostics {
public:
    explicit diagnostics(std::string file = {}) : file_(std::move(file)) {}
    void error(source_mark m, std::string path, std::string message);
    void warning(source_mark m, std::string path, std::string message);
    bool has_errors() const;
    const std::vector<diagnostic>& all() const { return items_; }
    const std::string& file() const { return file_; }
    std::string to_string() const;  // one line per diagnostic

private:
    std::string file_;
    std::vector<diagnostic> items_;
};

// Closest candidate by edit distance, or empty when nothing is close enough to suggest.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace gatehouse::config
