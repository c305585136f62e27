import type { AnomalyCount, AnomalyResult } from '../store/defense-store.ports.js';

/**
 * Layer 4's counting: one interval counter and an EWMA baseline per user × route, in memory (`countAnomaly`) and as
 * its Lua twin (`ANOMALY_LUA`); the contract suite runs both against the same cases.
 */

/** One route's interval counter and baseline. */
export interface AnomalyCounterState {
  interval: number;
  count: number;
  baseline: number;
  intervals: number;
  alertedInterval: number;
}

/** Counts one request; returns the result and the new state (same algorithm as the Lua twin). */
export function countAnomaly(state: AnomalyCounterState | undefined, request: AnomalyCount): { state: AnomalyCounterState; result: AnomalyResult } {
  const index = Math.floor(request.nowMs / request.intervalMs);
  const s = state ?? { interval: index, count: 0, baseline: 0, intervals: 0, alertedInterval: -1 };
  if (index > s.interval) {
    // Fold the finished interval into the baseline (its growth bounded: a slow ramp cannot teach it any amount), then
    // the empty ones in between (capped).
    s.baseline = s.intervals === 0 ? s.count : Math.min(s.baseline + request.alpha * (s.count - s.baseline), Math.max(s.baseline * request.maxGrowth, request.minRequests / request.factor));
    s.intervals += 1;
    const gap = Math.min(index - s.interval - 1, 1000);
    if (gap > 0) {
      s.baseline *= (1 - request.alpha) ** gap;
      s.intervals += gap;
    }
    s.intervals = Math.min(s.intervals, 1_000_000);
    s.interval = index;
    s.count = 0;
  }
  s.count += 1;
  const alerted =
    s.intervals >= request.warmupIntervals && s.count >= request.minRequests && s.count > request.factor * s.baseline && s.alertedInterval !== index;
  if (alerted) s.alertedInterval = index;
  return { state: s, result: { count: s.count, baseline: s.baseline, intervals: s.intervals, alerted } };
}

/** The Lua twin of `countAnomaly`: one packed field per route "i,c,b,n,a" in the user's baselines hash. */
export const ANOMALY_LUA = `
local function count_anomaly(key, route, intervalMs, alpha, warmup, factor, minRequests, maxRoutes, idleTtlMs, now, maxGrowth)
  local index = math.floor(now / intervalMs)
  local i, c, b, n, a = index, 0, 0, 0, -1
  local packed = redis.call('HGET', key, route)
  if packed then
    local fi, fc, fb, fn, fa = string.match(packed, '^(-?[%d]+),(-?[%d]+),([^,]+),(-?[%d]+),(-?[%d]+)$')
    if fi then i, c, b, n, a = tonumber(fi), tonumber(fc), tonumber(fb), tonumber(fn), tonumber(fa) end
  end
  if index > i then
    if n == 0 then b = c else b = math.min(b + alpha * (c - b), math.max(b * maxGrowth, minRequests / factor)) end
    n = n + 1
    local gap = math.min(index - i - 1, 1000)
    if gap > 0 then
      b = b * (1 - alpha) ^ gap
      n = n + gap
    end
    n = math.min(n, 1000000)
    i = index
    c = 0
  end
  c = c + 1
  local alerted = 0
  if n >= warmup and c >= minRequests and c > factor * b and a ~= index then
    alerted = 1
    a = index
  end
  local isNew = packed == false or packed == nil
  redis.call('HSET', key, route, string.format('%.0f,%d,%.6f,%d,%.0f', i, c, b, n, a))
  if isNew and redis.call('HLEN', key) > maxRoutes then
    -- Beyond the cap: drop the least recently counted route (the oldest interval).
    local all = redis.call('HGETALL', key)
    local oldest, oldestIndex = nil, nil
    for k = 1, #all, 2 do
      local fi = tonumber(string.match(all[k + 1], '^(-?[%d]+),'))
      if all[k] ~= route and fi and (oldestIndex == nil or fi < oldestIndex) then
        oldest, oldestIndex = all[k], fi
      end
    end
    if oldest then redis.call('HDEL', key, oldest) end
  end
  redis.call('PEXPIRE', key, idleTtlMs)
  return {c, string.format('%.6f', b), n, alerted}
end
`;
