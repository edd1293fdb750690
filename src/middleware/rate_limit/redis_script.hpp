#pragma once
// The shared-mode check: every limit of one request decided in one atomic Lua script, one round
// trip (EVALSHA; EVAL after a NOSCRIPT). The same GCRA as gcra.hpp, on Redis' own clock (TIME),
// so replicas with drifting clocks still share one timeline. All or nothing: a request refused
// by one limit consumes none. KEYS: one per limit; ARGV: T and tau per limit, in microseconds.
// Returns { allowed (1/0), remaining_1, reset_us_1, remaining_2, reset_us_2, ... } with the
// meaning of rate_limit's per-limit figures.
namespace gatehouse::middleware::rate_limit {

inline constexpr const char* k_gcra_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local starts, ok = {}, 1
for i = 1, n do
  local tau = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  starts[i] = tat
  if tat - now > tau then ok = 0 end
end
local out = { ok }
for i = 1, n do
  local T, tau, s = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]), starts[i]
  local rem, reset
  if ok == 1 then
    local tat = s + T
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1)
    local ahead = tat - now
    rem = 0
    if ahead <= tau then rem = math.floor((tau - ahead) / T) + 1 end
    reset = ahead
  elseif s - now > tau then
    rem, reset = 0, s - now - tau
  else
    local ahead = s - now
    rem = math.floor((tau - ahead) / T) + 1
    reset = ahead
  end
  out[2 * i] = rem
  out[2 * i + 1] = reset
end
return out
)lua";

}  // namespace gatehouse::middleware::rate_limit
