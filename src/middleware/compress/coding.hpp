#pragma once
// Content codings the compress middleware produces, and the choice among them for one request
// (RFC 9110 §12.5.3 Accept-Encoding). No I/O, unit-tested.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gatehouse::middleware::compress {

enum class coding : std::uint8_t { gzip, br, zstd };
constexpr std::size_t k_codings = 3;

std::string_view name_of(coding c);                      // the Content-Encoding token
std::optional<coding> coding_named(std::string_view s);  // "gzip" (or "x-gzip"), "br", "zstd"

// Accept-Encoding, possibly over several fields: each coding's weight as the client gave it.
class accepted_codings {
public:
    void add(std::string_view field_value);  // one field's value; malformed members are ignored
    // The coding to use: the highest client weight (> 0) among `ours`; equal weights go to the
    // earlier of `ours` (the operator's preference). nullopt: send the content as it is.
    std::optional<coding> choose(std::span<const coding> ours) const;

private:
    static constexpr int k_unset = -1;
    std::array<int, k_codings> weight_{k_unset, k_unset, k_unset};  // in thousandths
    int any_ = k_unset;                                             // "*"
};

// Parses a qvalue ("1", "0.5", "0.125"; RFC 9110 §12.4.2) into thousandths, or nullopt.
std::optional<int> parse_qvalue(std::string_view s);

}  // namespace gatehouse::middleware::compress
