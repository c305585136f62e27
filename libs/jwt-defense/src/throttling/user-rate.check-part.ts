import type { CheckPart } from '../store/check-part.js';
import type { UserRateLimitRequest } from '../store/defense-store.ports.js';
import { integer, replyOf } from '../store/reply.js';
import type { RateLimitResult } from './rate-limit.js';
import { RATE_LIMIT_LUA } from './rate-limit.lua.js';

/** The result of a limit that was not counted (the request was refused before). */
export const NOT_COUNTED: Readonly<RateLimitResult> = { totalHits: 0, timeToExpireMs: 0, blocked: false, timeToBlockExpireMs: 0 };

/** A rate-limit fragment's reply (`rate_limit`'s four integers) as a result. */
export function parseRateLimitReply(reply: unknown[], what: string): RateLimitResult {
  const [hits, toExpire, blocked, toBlockExpire] = replyOf(reply, 4, what).map((value) => integer(value, what));
  return { totalHits: hits, timeToExpireMs: toExpire, blocked: blocked === 1, timeToBlockExpireMs: toBlockExpire };
}

/**
 * Layer 2's part of the one call: the per-user limit, counted (`count`) unless the request was refused before (a
 * revoked token spends nothing of its user's limit). A blocked request blocks the flow: nothing is committed for it.
 * A named `counter` (a `throttle.userBy` value's) is a key of its own beside the user's (`r<counter>`; in memory
 * `<counter>\u001f<user>`, which no user's own key can be: those start with the hash tag and a `:`).
 */
export const USER_RATE_PART: CheckPart<UserRateLimitRequest, RateLimitResult> = {
  name: 'userRate',
  keyCount: 1,
  keys: (input, { sub }, key) => [key(input?.counter ? `r${input.counter}` : 'r', sub)],
  args: (input) => [input.limit, input.ttlMs, input.blockDurationMs, input.algorithm, Math.floor(input.nowMs)],
  lua: {
    helpers: [RATE_LIMIT_LUA],
    count: `
S.rate = rate_limit(K[1], tonumber(A[1]), tonumber(A[2]), tonumber(A[3]), A[4], tonumber(A[5]))
if S.rate[3] == 1 then F.blocked = true end`,
    reply: 'S.rate or {0, 0, 0, 0}',
  },
  parse: (reply) => parseRateLimitReply(reply, 'check: userRate'),
  memory: {
    count({ input, scope, flow, spaces, state }) {
      const rate = spaces.counters('user').hit(input.counter ? `${input.counter}\u001f${scope.user}` : scope.user, input, scope.tag);
      state.rate = rate;
      if (rate.blocked) flow.blocked = true;
    },
    result: ({ state }) => (state.rate as RateLimitResult | undefined) ?? { ...NOT_COUNTED },
  },
};
