import type { CheckPart } from '../store/check-part.js';
import type { UserRateLimitRequest } from '../store/defense-store.ports.js';
import type { RateLimitResult } from './rate-limit.js';
import { RATE_LIMIT_LUA } from './rate-limit.lua.js';
import { NOT_COUNTED, parseRateLimitReply } from './user-rate.check-part.js';

/** The per-IP count of a request that reaches the one call: the counter `RateLimitStore.hit` would count. */
export interface IpRateCount extends Omit<UserRateLimitRequest, 'counter'> {
  /** The counter's space (`ip`, or the route's own). */
  space: string;
  /** The client address. */
  ip: string;
}

/**
 * Layer 2's per-IP limit inside the one call (a remote store: the same counter as a hit, one round trip less). It
 * counts in the `check` phase, first, whatever else refuses (as a count before authentication would); over the limit
 * it refuses the request, so nothing of the user's is counted (memory, standalone Redis, Sentinel). Its counter sits
 * in its own hash slot (`ownSlot`): on Redis Cluster it is its own script, sent with the rest, so there the rest
 * counts even when it refuses (the user's rate, baseline and proof of a request that gets the IP limit's 429).
 */
export const IP_RATE_PART: CheckPart<IpRateCount, RateLimitResult> = {
  name: 'ipRate',
  keyCount: 1,
  ownSlot: true,
  keys: (input, _scope, _key, counterKey) => [counterKey(input?.space ?? 'ip', input?.ip ?? '')],
  args: (input) => [input.limit, input.ttlMs, input.blockDurationMs, input.algorithm, Math.floor(input.nowMs)],
  lua: {
    helpers: [RATE_LIMIT_LUA],
    check: `
S.rate = rate_limit(K[1], tonumber(A[1]), tonumber(A[2]), tonumber(A[3]), A[4], tonumber(A[5]))
if S.rate[3] == 1 then F.refused = true end`,
    reply: 'S.rate or {0, 0, 0, 0}',
  },
  parse: (reply) => parseRateLimitReply(reply, 'check: ipRate'),
  memory: {
    check({ input, flow, spaces, state }) {
      const rate = spaces.counters(input.space).hit(input.ip, input, input.ip);
      state.rate = rate;
      if (rate.blocked) flow.refused = true;
    },
    result: ({ state }) => (state.rate as RateLimitResult | undefined) ?? { ...NOT_COUNTED },
  },
};
