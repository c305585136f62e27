import type { ThrottlerStorage } from '@nestjs/throttler';
import type { RateLimitAlgorithm, RateLimitResult } from './rate-limit.js';

/** @nestjs/throttler's record type (not exported from its barrel: derived, to avoid a deep import). */
export type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** Algorithm for every throttler, or per throttler name (missing names use `fixed`). */
export type ThrottlerAlgorithms = RateLimitAlgorithm | Record<string, RateLimitAlgorithm>;

export function algorithmFor(algorithms: ThrottlerAlgorithms | undefined, throttlerName: string): RateLimitAlgorithm {
  if (algorithms === undefined) return 'fixed';
  return typeof algorithms === 'string' ? algorithms : (algorithms[throttlerName] ?? 'fixed');
}

/**
 * @nestjs/throttler's units: `ttl` and `blockDuration` come in ms, `timeToExpire` and `timeToBlockExpire`
 * go back in whole seconds (rounded up, as its own storage does).
 */
export function toThrottlerRecord(result: RateLimitResult): ThrottlerStorageRecord {
  return {
    totalHits: result.totalHits,
    timeToExpire: Math.ceil(result.timeToExpireMs / 1000),
    isBlocked: result.blocked,
    timeToBlockExpire: Math.ceil(result.timeToBlockExpireMs / 1000),
  };
}
