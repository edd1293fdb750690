#pragma once
// What a route's match.path_template captured from the request's path, for rewrite.path, header
// rules and rate-limit keys: names (views into the snapshot's route config) and values (views into
// the request's normalised path) in a fixed array, so routing allocates nothing. The bound is
// checked at config load.
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace gatehouse::router {

inline constexpr std::size_t k_max_path_variables = 8;

struct path_variables {
    std::array<std::string_view, k_max_path_variables> names, values;
    std::size_t count = 0;

    void clear() { count = 0; }
    // A template's variables are few and short: a linear scan beats any index.
    std::optional<std::string_view> find(std::string_view name) const {
        for (std::size_t i = 0; i < count; ++i)
            if (names[i] == name) return values[i];
        return std::nullopt;
    }
};

}  // namespace gatehouse::router
