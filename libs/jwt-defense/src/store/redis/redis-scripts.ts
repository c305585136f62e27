import { RATE_LIMIT_LUA } from '../../throttling/rate-limit.lua.js';

/**
 * Lua scripts of RedisDefenseStore, one per operation, loaded once with `defineCommand` (EVALSHA; ioredis
 * falls back to EVAL after a Redis restart flushed the script cache). Every key of one script shares one
 * hash tag, so each runs on one Redis Cluster slot. Numbers travel as integer strings: epoch ms do not fit
 * Lua's `tostring` without an exponent.
 */

/**
 * The per-request check. KEYS: user epoch, jti denylist entry, session, user rate counter.
 * ARGV: rate limit (0: none), ttlMs, blockMs, algorithm, nowMs.
 * Reply: [userNotBeforeMs, jtiRevoked, sessionRevoked, totalHits, timeToExpireMs, blocked, timeToBlockExpireMs].
 * Later layers add their per-user state here, so a request stays ONE round trip.
 */
export const CHECK = `${RATE_LIMIT_LUA}
local nb = redis.call('GET', KEYS[1])
local jti = redis.call('EXISTS', KEYS[2])
local session = redis.call('HEXISTS', KEYS[3], 'revoked')
local rate = {0, 0, 0, 0}
if ARGV[1] ~= '0' then
  rate = rate_limit(KEYS[4], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]))
end
return {nb or '0', jti, session, rate[1], rate[2], rate[3], rate[4]}
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
 * KEYS: session, user epoch. ARGV: presented generation, global epoch (ms), now (ms), reuse grace (ms).
 * Reply: rotated | replayed | reuse | revoked | missing. The epochs are checked in the same atomic step, so a
 * rotation racing a revoke-all either sees it or happened before it.
 */
export const ROTATE_SESSION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[1], 'revoked') == 1 then return 'revoked' end
local created = tonumber(redis.call('HGET', KEYS[1], 'created'))
local nb = tonumber(redis.call('GET', KEYS[2]) or '0')
if created <= nb or created <= tonumber(ARGV[2]) then return 'revoked' end
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen'))
local presented = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
if presented == gen then
  redis.call('HSET', KEYS[1], 'gen', string.format('%.0f', gen + 1), 'rot', ARGV[3])
  return 'rotated'
end
local grace = tonumber(ARGV[4])
if presented == gen - 1 and grace > 0 and now - tonumber(redis.call('HGET', KEYS[1], 'rot') or '0') <= grace then
  return 'replayed'
end
if presented < gen then
  redis.call('HSET', KEYS[1], 'revoked', 'refresh_token_reuse')
  return 'reuse'
end
return 'missing'
`;

/** KEYS: session. ARGV: reason. Reply: 1 when the session exists. */
export const REVOKE_SESSION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'revoked', ARGV[1])
return 1
`;
