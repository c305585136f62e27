/**
 * Lua scripts of RedisDefenseStore, one per operation, loaded once with `defineCommand` (EVALSHA; ioredis
 * falls back to EVAL after a Redis restart flushed the script cache). Every key of one script shares one
 * hash tag, so each runs on one Redis Cluster slot. Numbers travel as integer strings: epoch ms do not fit
 * Lua's `tostring` without an exponent.
 */

/**
 * Learns a context for a user. KEYS: context profile. ARGV: now, country ('' unknown), device, hour of week,
 * countHour ('1'), maxDevices, maxCountries, halfLifeMs, ttlMs, a login's context key ('': not a login). The twin of
 * `learnRiskProfile`: a login elsewhere withdraws the pass of a challenge raised for another context.
 */
export const LEARN_CONTEXT = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
if ARGV[10] ~= '' and redis.call('HGET', key, 'cc') ~= ARGV[10] then redis.call('HDEL', key, 'cc') end
local function remember(prefix, counter, name, max)
  local field = prefix .. name
  if redis.call('HEXISTS', key, field) == 0 then
    if redis.call('HINCRBY', key, counter, 1) > max then
      local all = redis.call('HGETALL', key)
      local oldest, oldestAt = nil, nil
      for k = 1, #all, 2 do
        if string.sub(all[k], 1, #prefix) == prefix and all[k] ~= field then
          local at = tonumber(all[k + 1])
          if oldestAt == nil or at < oldestAt then oldest, oldestAt = all[k], at end
        end
      end
      if oldest then
        redis.call('HDEL', key, oldest)
        redis.call('HINCRBY', key, counter, -1)
      end
    end
  end
  redis.call('HSET', key, field, ARGV[1])
end
redis.call('HINCRBY', key, 'l', 1)
if ARGV[2] ~= '' then
  remember('co:', 'nco', ARGV[2], tonumber(ARGV[7]))
  redis.call('HSET', key, 'lc', ARGV[2], 'lt', ARGV[1])
end
remember('dv:', 'ndv', ARGV[3], tonumber(ARGV[6]))
if ARGV[5] == '1' then
  local total = tonumber(redis.call('HGET', key, 'ht') or '0')
  local base = tonumber(redis.call('HGET', key, 'hb') or ARGV[1])
  if total == 0 then base = now end
  local weight = 2 ^ ((now - base) / tonumber(ARGV[8]))
  if weight > 2 ^ 30 then
    for h = 0, 167 do
      local v = redis.call('HGET', key, 'h:' .. h)
      if v then redis.call('HSET', key, 'h:' .. h, string.format('%.6f', tonumber(v) / weight)) end
    end
    redis.call('HSET', key, 'ht', string.format('%.6f', total / weight))
    base = now
    weight = 1
  end
  redis.call('HINCRBYFLOAT', key, 'h:' .. ARGV[4], string.format('%.6f', weight))
  redis.call('HINCRBYFLOAT', key, 'ht', string.format('%.6f', weight))
  redis.call('HSET', key, 'hb', string.format('%.0f', base), 'lh', string.format('%.0f', math.floor(now / 3600000)))
end
redis.call('PEXPIRE', key, ARGV[9])
return 1
`;

/** KEYS: context profile. ARGV: atMs, ttlMs, the challenged context's key. Records a challenge (never lowers its time). */
export const RECORD_CHALLENGE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'ch') or '0')
if tonumber(ARGV[1]) >= current then redis.call('HSET', KEYS[1], 'ch', ARGV[1], 'cc', ARGV[3]) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`;

/** KEYS: denylist entry. ARGV: ttlMs, reason, revokedAtMs, actor, sub. Reply: 1 newly revoked, 0 already. */
export const REVOKE_TOKEN = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'reason', ARGV[2], 'at', ARGV[3], 'actor', ARGV[4], 'sub', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/** KEYS: user epoch. ARGV: atMs, ttlMs. Reply: the epoch in force (never lowered). */
export const RAISE_USER_NOT_BEFORE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = tonumber(ARGV[1])
if at > current then current = at end
local value = string.format('%.0f', current)
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
`;

/** KEYS: global hash. ARGV: atMs. Reply: the global epoch in force (never lowered). */
export const RAISE_GLOBAL_NOT_BEFORE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'nb') or '0')
local at = tonumber(ARGV[1])
if at > current then current = at end
local value = string.format('%.0f', current)
redis.call('HSET', KEYS[1], 'nb', value)
return value
`;

/** KEYS: session. ARGV: sub, key, createdAtMs, expiresAtMs, claims. */
export const CREATE_SESSION = `
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'key', ARGV[2], 'gen', '0', 'created', ARGV[3], 'exp', ARGV[4], 'claims', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
`;

/**
 * KEYS: the user's live sessions (a sorted set: sid by expiry). ARGV: sid, expiresAtMs, now (ms), most live sessions
 * per user. Adds the new session and drops ended ones; reply: the sids beyond the cap (the oldest), taken out of the set
 * here, so that concurrent logins never count them twice; the caller revokes them. One key, like the session's own
 * write: during a Cluster slot migration both follow ASK.
 */
export const INDEX_SESSION = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
local max = tonumber(ARGV[4])
local over = {}
local count = redis.call('ZCARD', KEYS[1])
if count > max then
  over = redis.call('ZRANGE', KEYS[1], 0, count - max - 1)
  redis.call('ZREM', KEYS[1], unpack(over))
end
return over
`;

/**
 * KEYS: session, user epoch, the user's live sessions, the request's DPoP proof (its replay key; '' none). ARGV:
 * presented generation, global epoch (ms), the caller's now (ms, unused: see below), reuse grace (ms), sid, how long a
 * session revoked by reuse stays (ms; '0': until it expires), proof TTL (ms; '0': no proof). Reply: rotated | replayed
 * | reuse | revoked | missing | proof_replayed. The epochs are checked in the same atomic step, so a rotation racing a
 * revoke-all either sees it or happened before it; so is the proof, which is recorded only with a rotation (or a
 * replay within the grace): a replayed proof leaves the session as it was. The rotation time and the grace are measured
 * with this node's TIME, not the callers' clocks: a retry on an instance whose clock is off by a few seconds must not
 * turn an honest retry into reuse (which revokes the family), nor a late replay into a retry.
 */
export const ROTATE_SESSION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[1], 'revoked') == 1 then return 'revoked' end
local created = tonumber(redis.call('HGET', KEYS[1], 'created'))
local nb = tonumber(redis.call('GET', KEYS[2]) or '0')
if created <= nb or created <= tonumber(ARGV[2]) then return 'revoked' end
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen'))
local presented = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local grace = tonumber(ARGV[4])
local rotates = presented == gen
local replays = not rotates and presented == gen - 1 and grace > 0 and now - tonumber(redis.call('HGET', KEYS[1], 'rot') or '0') <= grace
if rotates or replays then
  if ARGV[7] ~= '0' then
    if redis.call('EXISTS', KEYS[4]) == 1 then return 'proof_replayed' end
    redis.call('SET', KEYS[4], '1', 'PX', ARGV[7])
  end
  if replays then return 'replayed' end
  redis.call('HSET', KEYS[1], 'gen', string.format('%.0f', gen + 1), 'rot', string.format('%.0f', now))
  return 'rotated'
end
if presented < gen then
  redis.call('HSET', KEYS[1], 'revoked', 'refresh_token_reuse')
  redis.call('ZREM', KEYS[3], ARGV[5])
  local retain = tonumber(ARGV[6])
  if retain > 0 and redis.call('PTTL', KEYS[1]) > retain then redis.call('PEXPIRE', KEYS[1], retain) end
  return 'reuse'
end
return 'missing'
`;

/**
 * KEYS: session. ARGV: reason, how long the revoked session stays (ms; '0': until it expires). Reply: 1 when the
 * session exists. A revoked session is kept (as revoked) only as long as its access tokens may live; the caller then
 * takes it out of the user's live sessions (its own one-key command).
 */
export const REVOKE_SESSION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'revoked', ARGV[1])
local retain = tonumber(ARGV[2])
if retain > 0 and redis.call('PTTL', KEYS[1]) > retain then redis.call('PEXPIRE', KEYS[1], retain) end
return 1
`;

/** KEYS: a DPoP proof's replay key. ARGV: ttlMs. Reply: 1 recorded now, 0 seen before (a replay). */
export const RECORD_PROOF = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
`;

/**
 * KEYS: global hash, rotated keys hash. ARGV: kid, atMs, the caller's configured signing kid ('' none).
 * Reply: 1 retired (or already), 0 refused: the kid signs (the rotated signing key, else the caller's, else the one
 * declared at boot), checked in the same step as the write so no instance can be left signing with a retired key.
 */
export const RETIRE_KID = `
local active = redis.call('HGET', KEYS[1], 'sk')
if not active then
  if ARGV[3] ~= '' then active = ARGV[3] else active = redis.call('HGET', KEYS[1], 'osk') end
end
if active == ARGV[1] then return 0 end
redis.call('HSETNX', KEYS[1], 'kid:' .. ARGV[1], ARGV[2])
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'kv', 1) end
return 1
`;

/**
 * KEYS: rotation lock. ARGV: flight, ttlMs. Reply: '' when the lock was free and is now the flight's (it rotates),
 * else the flight that holds it (the caller waits for its outcome).
 */
export const LOCK_KEY_ROTATION = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return '' end
return redis.call('GET', KEYS[1])
`;

/**
 * KEYS: global hash, rotated keys hash, when each rotated key stopped signing (hash), rotation lock, the flight's
 * outcome. ARGV: flight, kid, the stored key (JSON), the caller's signing kid ('' none), maxKeys, retireAfterMs,
 * algorithm, outcomeTtlMs. One atomic step: retire the oldest rotated keys beyond maxKeys (each must have stopped
 * signing at least retireAfterMs ago, by this node's TIME, or nothing changes: 'full'), add the key as the signing
 * key (the one it replaces stops signing now), record the outcome for the flight's waiters, release the lock.
 * A key with no recorded stop (stored before the ring kept them) counts as stopping now. Reply: the outcome,
 * [state, rotated, kid, ..., alg, ..., prev, ..., retired, 'kid,kid'] or [state, full, retry, ms].
 */
export const COMMIT_KEY_ROTATION = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local signing = redis.call('HGET', KEYS[1], 'sk')
local stored = redis.call('HGETALL', KEYS[2])
local stops = redis.call('HGETALL', KEYS[3])
local stoppedAt = {}
for i = 1, #stops, 2 do stoppedAt[stops[i]] = tonumber(stops[i + 1]) end
local ring = {}
for i = 1, #stored, 2 do
  local at = stoppedAt[stored[i]]
  if stored[i] == signing or at == nil then at = now end
  ring[#ring + 1] = {stored[i], at}
end
table.sort(ring, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[1] < b[1]
end)
local leaving = math.max(#ring + 1 - tonumber(ARGV[5]), 0)
local after = tonumber(ARGV[6])
local outcome
for i = 1, leaving do
  if now - ring[i][2] < after then
    outcome = {'state', 'full', 'retry', string.format('%.0f', ring[leaving][2] + after - now)}
    break
  end
end
if not outcome then
  local retired = {}
  for i = 1, leaving do
    redis.call('HSETNX', KEYS[1], 'kid:' .. ring[i][1], string.format('%.0f', now))
    redis.call('HDEL', KEYS[2], ring[i][1])
    retired[#retired + 1] = ring[i][1]
  end
  for kid in pairs(stoppedAt) do
    if redis.call('HEXISTS', KEYS[2], kid) == 0 then redis.call('HDEL', KEYS[3], kid) end
  end
  for i = leaving + 1, #ring do
    if ring[i][1] == signing or stoppedAt[ring[i][1]] == nil then
      redis.call('HSET', KEYS[3], ring[i][1], string.format('%.0f', ring[i][2]))
    end
  end
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[1], 'sk', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'kv', 1)
  outcome = {'state', 'rotated', 'kid', ARGV[2], 'alg', ARGV[7], 'prev', signing or ARGV[4], 'retired', table.concat(retired, ',')}
end
redis.call('DEL', KEYS[5])
redis.call('HSET', KEYS[5], unpack(outcome))
redis.call('PEXPIRE', KEYS[5], ARGV[8])
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return outcome
`;

/**
 * KEYS: rotation lock, the flight's outcome. ARGV: flight. Reply: the outcome (as COMMIT_KEY_ROTATION's), 'pending'
 * while the flight holds the lock, or nil (it gave up: its lock ran out without a commit).
 */
export const KEY_ROTATION_OUTCOME = `
local outcome = redis.call('HGETALL', KEYS[2])
if #outcome > 0 then return outcome end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 'pending' end
return false
`;

/** KEYS: global hash. ARGV: mode, sinceMs, reason, actor. The newest decision wins (never an older one replayed). */
export const SET_LOCKDOWN = `
local current = tonumber(redis.call('HGET', KEYS[1], 'ls') or '0')
if tonumber(ARGV[2]) < current then return 0 end
redis.call('HSET', KEYS[1], 'lm', ARGV[1], 'ls', ARGV[2], 'lr', ARGV[3], 'la', ARGV[4])
return 1
`;

/**
 * KEYS: global hash (only to route it: on a Cluster every instance reads the clock of the same node). Reply: TIME,
 * [seconds, microseconds]. The one clock of revocation epochs and login times (see `GlobalStateStore.timeMs`).
 */
export const TIME = `
return redis.call('TIME')
`;
