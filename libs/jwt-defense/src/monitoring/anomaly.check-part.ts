import type { CheckPart } from '../store/check-part.js';
import type { AnomalyCount, AnomalyResult } from '../store/defense-store.ports.js';
import { decimal, integer, replyOf } from '../store/reply.js';
import { ANOMALY_LUA, countAnomaly, type AnomalyCounterState } from './anomaly-count.js';

/**
 * Layer 4's part of the one call: the request counted in its user × route baseline (`count`: never for a request
 * refused before, so that a revoked token cannot raise a containment against its user).
 */
export const ANOMALY_PART: CheckPart<AnomalyCount, AnomalyResult> = {
  name: 'anomaly',
  keyCount: 1,
  keys: (_input, { sub }, key) => [key('a', sub)],
  args: (input) => [
    input.route,
    input.intervalMs,
    input.alpha,
    input.warmupIntervals,
    input.factor,
    input.minRequests,
    input.maxRoutes,
    Math.floor(input.idleTtlMs),
    Math.floor(input.nowMs),
    input.maxGrowth,
  ],
  lua: {
    helpers: [ANOMALY_LUA],
    count: `
S.counted = count_anomaly(K[1], A[1], tonumber(A[2]), tonumber(A[3]), tonumber(A[4]), tonumber(A[5]), tonumber(A[6]),
  tonumber(A[7]), tonumber(A[8]), tonumber(A[9]), tonumber(A[10]))`,
    reply: "S.counted or {0, '0', 0, 0}",
  },
  parse: (reply) => {
    const [count, baseline, intervals, alerted] = replyOf(reply, 4, 'check: anomaly');
    return { count: integer(count, 'check: anomaly'), baseline: decimal(baseline, 'check: anomaly'), intervals: integer(intervals, 'check: anomaly'), alerted: integer(alerted, 'check: anomaly') === 1 };
  },
  memory: {
    count({ input, scope, spaces, state }) {
      const baselines = spaces.lru<Map<string, AnomalyCounterState>>('baselines');
      const user = scope.user;
      const routes = baselines.get(user, input.nowMs) ?? new Map<string, AnomalyCounterState>();
      const known = routes.get(input.route);
      const { state: counted, result } = countAnomaly(known, input);
      // Least recently counted first (counted in place: a user's only route stays where it is).
      if (known === undefined || routes.size > 1) {
        routes.delete(input.route);
        routes.set(input.route, counted);
      }
      if (routes.size > input.maxRoutes) routes.delete(routes.keys().next().value as string);
      baselines.set(user, routes, input.nowMs, input.idleTtlMs);
      state.counted = result;
    },
    result: ({ state }) => (state.counted as AnomalyResult | undefined) ?? { count: 0, baseline: 0, intervals: 0, alerted: false },
  },
};

/** The step-up epoch an earlier containment set (tokens authenticated at or before it need a new login), read in the one call. */
export const STEP_UP_PART: CheckPart<true, { stepUpBeforeMs: number }> = {
  name: 'stepUp',
  keyCount: 1,
  keys: (_input, { sub }, key) => [key('p', sub)],
  args: () => [],
  lua: {
    check: `S.su = redis.call('GET', K[1]) or '0'`,
    reply: '{S.su}',
  },
  parse: (reply) => ({ stepUpBeforeMs: integer(replyOf(reply, 1, 'check: stepUp')[0], 'check: stepUp') }),
  memory: {
    result: ({ scope, spaces }) => ({ stepUpBeforeMs: spaces.expiring<number>('userEpochs').get(`${scope.user}:su`) ?? 0 }),
  },
};
