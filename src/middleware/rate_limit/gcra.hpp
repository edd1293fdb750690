#pragma once
// GCRA (the generic cell rate algorithm, RFC 2381 / ATM "virtual scheduling"): a limit of N
// requests per period is an emission interval T = period / N and a tolerance tau = burst * T.
// The only state per key is the theoretical arrival time (TAT) of the next request. A request
// at `now` is allowed when max(TAT, now) - now <= tau, and then moves TAT on by T. Exact, one
// integer per key, and the same arithmetic in the local table and in the Redis script
// (redis_script.hpp), so a key's answer does not depend on where it was decided.
#include <algorithm>
#include <cstdint>

namespace gatehouse::middleware::rate_limit {

struct gcra_params {
    std::int64_t emission = 0;   // T, in the clock's unit
    std::int64_t tolerance = 0;  // tau = burst * T
};

struct gcra_result {
    bool allowed = false;
    std::int64_t tat = 0;         // the key's state after this request (unchanged when refused)
    std::uint64_t remaining = 0;  // requests that would still be allowed at `now`
    std::int64_t reset = 0;       // until the key is back to a full burst (allowed), or until the next request is allowed (refused)
};

// `tat` is the stored TAT, or anything <= now for a key never seen (or expired: the same thing).
inline gcra_result gcra_check(std::int64_t tat, std::int64_t now, const gcra_params& p) {
    gcra_result r;
    const std::int64_t start = std::max(tat, now);
    if (start - now > p.tolerance) {  // refused: the next request fits once TAT - tau is reached
        r.tat = tat;
        r.reset = start - now - p.tolerance;
        return r;
    }
    r.allowed = true;
    r.tat = start + p.emission;
    const std::int64_t ahead = r.tat - now;  // > 0
    // The k-th further request at `now` would find TAT' + (k - 1) T ahead; it fits while <= tau.
    r.remaining = ahead > p.tolerance ? 0 : static_cast<std::uint64_t>((p.tolerance - ahead) / p.emission) + 1;
    r.reset = ahead;
    return r;
}

// The Retry-After and `t` values: whole seconds, rounded up, at least 1 when anything is left.
inline std::int64_t ceil_seconds(std::int64_t ns) { return ns <= 0 ? 0 : (ns + 999'999'999) / 1'000'000'000; }

}  // namespace gatehouse::middleware::rate_limit
