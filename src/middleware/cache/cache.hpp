#pragma once
// The cache middleware's face to the admin API and metrics (the store itself: src/cache/).
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace gatehouse::observability {
class metrics;
}

namespace gatehouse::middleware::cache {

// GET /cache: entries, bytes, hit ratio; with a URL: that URL's entries (head, age, TTL).
nlohmann::json status(std::optional<std::string_view> url);
// POST /cache/purge {"keys": [...]} | {"urls": [...]} | {"tags": [...]} | {"all": true}.
// The answer, or nullopt with `error` set when the body is not one of those.
std::optional<nlohmann::json> purge(std::string_view body, std::string& error);
void add_metrics(observability::metrics& m);

}  // namespace gatehouse::middleware::cache
