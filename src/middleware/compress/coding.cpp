#include "middleware/compress/coding.hpp"

#include "gatehouse/http/fields.hpp"
#include "util/text.hpp"

namespace gatehouse::middleware::compress {

namespace {

// One list member, "gzip;q=0.5": its coding token and weight (1000 when no q is given).
std::optional<std::pair<std::string_view, int>> parse_member(std::string_view member) {
    auto semi = member.find(';');
    auto token = util::trim(member.substr(0, semi));
    if (token.empty()) return std::nullopt;
    int weight = 1000;
    while (semi != std::string_view::npos) {
        auto rest = member.substr(semi + 1);
        auto next = rest.find(';');
        auto param = util::trim(rest.substr(0, next));
        semi = next == std::string_view::npos ? next : semi + 1 + next;
        auto eq = param.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        auto key = util::trim(param.substr(0, eq));
        if (key.size() == 1 && (key[0] == 'q' || key[0] == 'Q')) {
            auto q = parse_qvalue(util::trim(param.substr(eq + 1)));
            if (!q) return std::nullopt;
            weight = *q;
        }
    }
    return std::pair{token, weight};
}

}  // namespace

std::string_view name_of(coding c) {
    switch (c) {
        case coding::gzip: return "gzip";
        case coding::br: return "br";
        case coding::zstd: return "zstd";
    }
    return "";
}

std::optional<coding> coding_named(std::string_view s) {
    if (http::iequals(s, "gzip") || http::iequals(s, "x-gzip")) return coding::gzip;
    if (http::iequals(s, "br")) return coding::br;
    if (http::iequals(s, "zstd")) return coding::zstd;
    return std::nullopt;
}

std::optional<int> parse_qvalue(std::string_view s) {
    if (s.empty() || s.size() > 5 || (s[0] != '0' && s[0] != '1')) return std::nullopt;
    int whole = s[0] - '0';
    if (s.size() == 1) return whole * 1000;
    if (s[1] != '.') return std::nullopt;
    int frac = 0, digits = 0;
    for (char c : s.substr(2)) {
        if (c < '0' || c > '9') return std::nullopt;
        frac = frac * 10 + (c - '0');
        ++digits;
    }
    while (digits++ < 3) frac *= 10;
    if (whole == 1 && frac != 0) return std::nullopt;
    return whole * 1000 + frac;
}

void accepted_codings::add(std::string_view value) {
    while (!value.empty()) {
        auto comma = value.find(',');
        auto member = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        auto m = parse_member(member);
        if (!m) continue;
        if (m->first == "*") any_ = std::max(any_, m->second);
        else if (auto c = coding_named(m->first)) {
            auto& w = weight_[static_cast<std::size_t>(*c)];
            w = std::max(w, m->second);
        }
    }
}

std::optional<coding> accepted_codings::choose(std::span<const coding> ours) const {
    std::optional<coding> best;
    int best_weight = 0;
    for (auto c : ours) {
        int w = weight_[static_cast<std::size_t>(c)];
        if (w == k_unset) w = any_;  // "*": any coding not named
        if (w > best_weight) {
            best = c;
            best_weight = w;
        }
    }
    return best;
}

}  // namespace gatehouse::middleware::compress
