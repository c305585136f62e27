import type { RouteRateLimit } from '../policy/policy.resolver.js';
import { CounterSpace } from '../store/memory/bounded-spaces.js';
import { MemoryStoreOptions } from '../store/store.options.js';
import type { RateLimitResult } from './rate-limit.js';

/** Idle counters looked at on each insured hit: nothing else sweeps these spaces (no timer, no scheduled cleanup). */
const SWEEP_PER_HIT = 8;

/**
 * Layer 2's insurance (`throttle.insurance`): a limit the store could not count is counted on this instance, in memory,
 * with this instance's share of it, `ceil(limit / instances)` per window. The memory store's counters: the same
 * algorithm (rate-limit.ts), the same bounds per space and per principal (`store` memory defaults: idle counters go
 * first, active blocks never; a principal only ever pushes out its own). Used only after a store call failed: a
 * request the store answers costs nothing here.
 */
export class InsuranceLimiter {
  private readonly spaces = new Map<string, CounterSpace>();
  private readonly bounds = new MemoryStoreOptions();

  constructor(private readonly instances: number) {}

  /** The limit in force on this instance while the store is down. */
  share(limit: RouteRateLimit): RouteRateLimit {
    return { ...limit, limit: Math.ceil(limit.limit / this.instances) };
  }

  /**
   * One hit on `key` of `share`'s space, held by `owner` (the principal whose share of the space it counts against).
   * Throws `StoreCapacityError` when the space is full of active blocks.
   */
  hit(share: RouteRateLimit, key: string, owner: string, nowMs: number): RateLimitResult {
    let space = this.spaces.get(share.space);
    if (!space) {
      space = new CounterSpace(`insurance:${share.space}`, this.bounds.maxCounters, () => undefined, this.bounds.maxPerPrincipal);
      this.spaces.set(share.space, space);
    }
    space.sweep(nowMs, SWEEP_PER_HIT);
    return space.hit(key, { ...share, nowMs }, owner);
  }
}
