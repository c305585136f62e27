/** How hits are counted in a window. */
export type RateLimitAlgorithm = 'fixed' | 'sliding';

/**
 * A limit: at most `limit` requests per `ttlMs`; beyond it, blocked for `blockDurationMs` (default `ttlMs`;
 * `0`: no block beyond the window, as @nestjs/throttler documents).
 */
export interface RateLimit {
  /** Requests allowed per window. */
  limit: number;
  /** Window length, in ms. */
  ttlMs: number;
  /** How long a client that went over stays blocked, in ms. Default: `ttlMs`. */
  blockDurationMs?: number;
  /**
   * `fixed` (a counter per window: cheap, but allows 2× `limit` across a window boundary) or `sliding`
   * (the previous window's count weighted by its remaining overlap plus the current one: no boundary burst,
   * same O(1) state). Default `fixed`.
   */
  algorithm?: RateLimitAlgorithm;
}

/** Outcome of one hit. Times in ms here; the @nestjs/throttler adapter converts to seconds. */
export interface RateLimitResult {
  totalHits: number;
  timeToExpireMs: number;
  blocked: boolean;
  timeToBlockExpireMs: number;
}

/** O(1) state of one counter in the memory implementation. */
export interface RateLimitState {
  /** fixed: window end (epoch ms); sliding: current window index. */
  window: number;
  current: number;
  previous: number;
  blockedUntilMs: number;
}

/**
 * One hit on a counter, in memory (the Redis Lua twin is in rate-limit.lua.ts; both are tested against
 * the same cases). Mutates and returns `state`; a rejected hit is not counted.
 */
export function hitRateLimit(
  state: RateLimitState | undefined,
  nowMs: number,
  limit: number,
  ttlMs: number,
  blockDurationMs: number,
  algorithm: RateLimitAlgorithm,
): { state: RateLimitState; result: RateLimitResult } {
  const s: RateLimitState = state ?? { window: -1, current: 0, previous: 0, blockedUntilMs: 0 };
  if (algorithm === 'fixed') {
    if (s.blockedUntilMs > nowMs) {
      return { state: s, result: { totalHits: s.current, timeToExpireMs: Math.max(s.window - nowMs, 0), blocked: true, timeToBlockExpireMs: s.blockedUntilMs - nowMs } };
    }
    // A new window, or a block that just ended: start counting afresh.
    if (s.window <= nowMs || s.current > limit) {
      s.window = nowMs + ttlMs;
      s.current = 0;
    }
    s.current += 1;
    const timeToExpireMs = s.window - nowMs;
    if (s.current > limit) {
      // blockDurationMs 0 (@nestjs/throttler's meaning): no block beyond the window, refused until it ends.
      s.blockedUntilMs = blockDurationMs > 0 ? nowMs + blockDurationMs : s.window;
      return { state: s, result: { totalHits: s.current, timeToExpireMs, blocked: true, timeToBlockExpireMs: s.blockedUntilMs - nowMs } };
    }
    return { state: s, result: { totalHits: s.current, timeToExpireMs, blocked: false, timeToBlockExpireMs: 0 } };
  }

  const window = Math.floor(nowMs / ttlMs);
  if (s.window !== window) {
    s.previous = s.window === window - 1 ? s.current : 0;
    s.current = 0;
    s.window = window;
  }
  const elapsedMs = nowMs - window * ttlMs;
  const weighted = (s.previous * (ttlMs - elapsedMs)) / ttlMs + s.current;
  const timeToExpireMs = ttlMs - elapsedMs;
  if (s.blockedUntilMs > nowMs) {
    return { state: s, result: { totalHits: Math.ceil(weighted), timeToExpireMs, blocked: true, timeToBlockExpireMs: s.blockedUntilMs - nowMs } };
  }
  const estimate = weighted + 1;
  if (estimate > limit) {
    // blockDurationMs 0: no block; refused while the weighted count stays over the limit (ask again soon).
    s.blockedUntilMs = nowMs + blockDurationMs;
    return { state: s, result: { totalHits: Math.ceil(estimate), timeToExpireMs, blocked: true, timeToBlockExpireMs: Math.max(blockDurationMs, 1) } };
  }
  s.current += 1;
  return { state: s, result: { totalHits: Math.ceil(estimate), timeToExpireMs, blocked: false, timeToBlockExpireMs: 0 } };
}
