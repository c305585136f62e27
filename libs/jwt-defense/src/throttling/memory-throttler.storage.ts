import type { ThrottlerStorage } from '@nestjs/throttler';
import { CounterSpace } from '../store/memory/bounded-spaces.js';
import { algorithmFor, toThrottlerRecord, type ThrottlerAlgorithms, type ThrottlerStorageRecord } from './throttler-storage.options.js';

export interface MemoryThrottlerStorageOptions {
  /** Algorithm for every throttler or per throttler name. Default `fixed`. */
  algorithm?: ThrottlerAlgorithms;
  /** Most counters kept per throttler; idle ones go first, active blocks never. Default 100000. */
  maxKeys?: number;
  /** Time source, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * A `ThrottlerStorage` for one process: O(1) state per counter (no list of hits, unlike the stock storage),
 * bounded per throttler, expiry by timestamp, no timer. When a throttler's space is full of active blocks, a
 * new key's hit throws `StoreCapacityError`.
 */
export class MemoryThrottlerStorage implements ThrottlerStorage {
  private readonly spaces = new Map<string, CounterSpace>();
  private readonly now: () => number;

  constructor(private readonly options: MemoryThrottlerStorageOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    let space = this.spaces.get(throttlerName);
    if (!space) {
      space = new CounterSpace(throttlerName, this.options.maxKeys ?? 100_000, () => undefined);
      this.spaces.set(throttlerName, space);
    }
    const algorithm = algorithmFor(this.options.algorithm, throttlerName);
    return toThrottlerRecord(space.hit(key, { limit, ttlMs: ttl, blockDurationMs: blockDuration, algorithm, nowMs: this.now() }));
  }

  /** Counters held, over every throttler (for tests and metrics). */
  get size(): number {
    let size = 0;
    for (const space of this.spaces.values()) size += space.size;
    return size;
  }
}
