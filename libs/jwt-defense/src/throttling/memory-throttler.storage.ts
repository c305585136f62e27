import type { ThrottlerStorage } from '@nestjs/throttler';
import { hitRateLimit, type RateLimitState } from './rate-limit.js';
import { algorithmFor, toThrottlerRecord, type ThrottlerAlgorithms, type ThrottlerStorageRecord } from './throttler-storage.options.js';

export interface MemoryThrottlerStorageOptions {
  /** Algorithm for every throttler or per throttler name. Default `fixed`. */
  algorithm?: ThrottlerAlgorithms;
  /** Most counters kept (one per tracker × throttler); the least recently used go first. Default 100000. */
  maxKeys?: number;
  /** Time source, epoch ms. Default `Date.now`. */
  now?: () => number;
}

interface Counter extends RateLimitState {
  /** When this counter can be forgotten (window and block both over), epoch ms. */
  idleAtMs: number;
}

/**
 * A `ThrottlerStorage` for one process: O(1) state per counter (no list of hits, unlike the stock storage),
 * bounded, expiry by timestamp, no timer.
 */
export class MemoryThrottlerStorage implements ThrottlerStorage {
  private readonly counters = new Map<string, Counter>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly options: MemoryThrottlerStorageOptions = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const id = `${throttlerName}\u0000${key}`;
    const nowMs = this.now();
    let counter = this.counters.get(id);
    if (counter && counter.idleAtMs <= nowMs) counter = undefined;
    this.counters.delete(id); // re-insert last: Map order is LRU order
    const algorithm = algorithmFor(this.options.algorithm, throttlerName);
    const { state, result } = hitRateLimit(counter, nowMs, limit, ttl, blockDuration, algorithm);
    const windowEndMs = algorithm === 'fixed' ? state.window : (state.window + 2) * ttl;
    this.counters.set(id, { ...state, idleAtMs: Math.max(windowEndMs, state.blockedUntilMs) });
    this.evict(nowMs);
    return toThrottlerRecord(result);
  }

  /** Counters held (for tests and metrics). */
  get size(): number {
    return this.counters.size;
  }

  private evict(nowMs: number): void {
    let looked = 0;
    for (const [id, counter] of this.counters) {
      if (looked++ >= 8) break;
      if (counter.idleAtMs <= nowMs) this.counters.delete(id);
    }
    while (this.counters.size > this.maxKeys) this.counters.delete(this.counters.keys().next().value as string);
  }
}
