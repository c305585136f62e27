/**
 * Lua twin of `hitRateLimit` (rate-limit.ts), shared by the throttler storage script and the per-request
 * defence check; both are run against the same cases in tests. State: ONE hash per counter
 * {w: window, c: current, p: previous, b: blocked until}. `now` (epoch ms) comes from the caller's clock,
 * like every other time in jwt-defense (tests freeze it); only the key's TTL uses Redis time, and it is
 * relative, so a skew between instances only shifts windows by the skew.
 * Returns {totalHits, timeToExpireMs, blocked (0/1), timeToBlockExpireMs}.
 */
export const RATE_LIMIT_LUA = `
local function rate_limit(key, limit, ttlMs, blockMs, algorithm, now)
  local s = redis.call('HMGET', key, 'w', 'c', 'p', 'b')
  local w = tonumber(s[1] or '-1')
  local c = tonumber(s[2] or '0')
  local p = tonumber(s[3] or '0')
  local b = tonumber(s[4] or '0')
  local total
  local toExpire
  local keep
  local rejected = false
  if algorithm == 'fixed' then
    if b > now then return {c, math.max(w - now, 0), 1, b - now} end
    if w <= now or c > limit then
      w = now + ttlMs
      c = 0
    end
    c = c + 1
    total = c
    toExpire = w - now
    keep = toExpire
    if c > limit then
      rejected = true
      if blockMs > 0 then b = now + blockMs else b = w end
    end
  else
    local window = math.floor(now / ttlMs)
    if w ~= window then
      if w == window - 1 then p = c else p = 0 end
      c = 0
      w = window
    end
    toExpire = ttlMs - (now - window * ttlMs)
    local weighted = p * toExpire / ttlMs + c
    if b > now then return {math.ceil(weighted), toExpire, 1, b - now} end
    total = math.ceil(weighted + 1)
    if weighted + 1 > limit then
      rejected = true
      b = now + blockMs
    else
      c = c + 1
    end
    keep = toExpire + ttlMs
  end
  redis.call('HSET', key, 'w', string.format('%.0f', w), 'c', c, 'p', p, 'b', string.format('%.0f', b))
  redis.call('PEXPIRE', key, string.format('%.0f', math.max(keep, b - now, 1)))
  if b > now then return {total, toExpire, 1, b - now} end
  if rejected then return {total, toExpire, 1, 1} end
  return {total, toExpire, 0, 0}
end
`;

/** The throttler storage script. KEYS: counter. ARGV: limit, ttlMs, blockMs, algorithm, nowMs. */
export const THROTTLE_SCRIPT = `${RATE_LIMIT_LUA}
return rate_limit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]))
`;
