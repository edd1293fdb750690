#include "grpc/status.hpp"

#include <array>

namespace gatehouse::grpc {

namespace {

struct names {
    std::string_view canonical;
    std::string_view config;
    std::string_view field;
};

constexpr std::array<names, k_status_count> k_names{{
    {"OK", "ok", "0"},
    {"CANCELLED", "cancelled", "1"},
    {"UNKNOWN", "unknown", "2"},
    {"INVALID_ARGUMENT", "invalid_argument", "3"},
    {"DEADLINE_EXCEEDED", "deadline_exceeded", "4"},
    {"NOT_FOUND", "not_found", "5"},
    {"ALREADY_EXISTS", "already_exists", "6"},
    {"PERMISSION_DENIED", "permission_denied", "7"},
    {"RESOURCE_EXHAUSTED", "resource_exhausted", "8"},
    {"FAILED_PRECONDITION", "failed_precondition", "9"},
    {"ABORTED", "aborted", "10"},
    {"OUT_OF_RANGE", "out_of_range", "11"},
    {"UNIMPLEMENTED", "unimplemented", "12"},
    {"INTERNAL", "internal", "13"},
    {"UNAVAILABLE", "unavailable", "14"},
    {"DATA_LOSS", "data_loss", "15"},
    {"UNAUTHENTICATED", "unauthenticated", "16"},
}};

const names& of(status_code c) {
    const auto i = static_cast<int>(c);
    return k_names[i >= 0 && i < k_status_count ? static_cast<std::size_t>(i) : 2];
}

}  // namespace

std::string_view canonical_name(status_code c) { return of(c).canonical; }
std::string_view config_name(status_code c) { return of(c).config; }
std::string_view status_field(status_code c) { return of(c).field; }

std::optional<status_code> from_config_name(std::string_view name) {
    for (std::size_t i = 0; i < k_names.size(); ++i)
        if (k_names[i].config == name) return static_cast<status_code>(i);
    return std::nullopt;
}

std::optional<status_code> parse_status_field(std::string_view value) {
    if (value.empty() || value.size() > 2) return std::nullopt;
    if (value.size() == 2 && value[0] == '0') return std::nullopt;
    int n = 0;
    for (char ch : value) {
        if (ch < '0' || ch > '9') return std::nullopt;
        n = n * 10 + (ch - '0');
    }
    if (n >= k_status_count) return std::nullopt;
    return static_cast<status_code>(n);
}

int status_in(http::field_list fields) {
    for (auto& f : fields) {
        if (f.name.size() != 11 || !http::iequals(f.name, "grpc-status")) continue;
        auto c = parse_status_field(f.value);
        return static_cast<int>(c.value_or(status_code::unknown));
    }
    return -1;
}

status_code from_http_status(int s) {
    if (s >= 200 && s < 300) return status_code::ok;
    switch (s) {
        case 400: return status_code::internal;
        case 401: return status_code::unauthenticated;
        case 403: return status_code::permission_denied;
        case 404: return status_code::unimplemented;
        case 408: return status_code::deadline_exceeded;
        case 413: return status_code::resource_exhausted;
        case 429: return status_code::resource_exhausted;
        case 431: return status_code::resource_exhausted;
        case 501: return status_code::unimplemented;
        case 502:
        case 503: return status_code::unavailable;
        case 504: return status_code::deadline_exceeded;
        default: return status_code::unknown;
    }
}

int to_http_status(int grpc_code) {
    switch (grpc_code) {
        case 0: return 200;
        case 1: return 499;   // CANCELLED
        case 3: return 400;   // INVALID_ARGUMENT
        case 4: return 504;   // DEADLINE_EXCEEDED
        case 5: return 404;   // NOT_FOUND
        case 6: return 409;   // ALREADY_EXISTS
        case 7: return 403;   // PERMISSION_DENIED
        case 8: return 429;   // RESOURCE_EXHAUSTED
        case 9: return 400;   // FAILED_PRECONDITION
        case 10: return 409;  // ABORTED
        case 11: return 400;  // OUT_OF_RANGE
        case 12: return 501;  // UNIMPLEMENTED
        case 14: return 503;  // UNAVAILABLE
        case 16: return 401;  // UNAUTHENTICATED
        default: return 500;  // UNKNOWN, INTERNAL, DATA_LOSS, anything else
    }
}

}  // namespace gatehouse::grpc
