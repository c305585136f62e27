import { hitRateLimit, type RateLimitResult, type RateLimitState } from '../../throttling/rate-limit.js';
import type { RateLimitHit } from '../defense-store.ports.js';
import { StoreCapacityError } from '../defense-store.errors.js';

/** Entries looked at for expiry on each write: amortised cleanup without a timer per entry. */
const SWEEP_PER_WRITE = 8;
/** How far from the least recently used end a full counter space looks for an entry it may drop. */
const EVICTION_SCAN = 64;

/**
 * A bounded map for security state (revocations, sessions, user epochs): an entry lives until its own expiry
 * and is NEVER dropped before it. When the space is full, expired entries are swept; if it is still full, the
 * write is refused with a {@link StoreCapacityError} (the caller answers 503, the store reports it), because
 * forgetting a revocation would silently re-validate a revoked token.
 */
export class ExpiringSpace<V> {
  private readonly entries = new Map<string, { value: V; expiresAtMs: number }>();

  constructor(
    readonly name: string,
    private readonly capacity: number,
    private readonly now: () => number,
    private readonly onFull: (space: string) => void,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Stores `value` until `expiresAtMs`. Throws {@link StoreCapacityError} when full of live entries. */
  set(key: string, value: V, expiresAtMs: number): void {
    const nowMs = this.now();
    const existing = this.entries.get(key);
    if (existing) {
      existing.value = value;
      existing.expiresAtMs = expiresAtMs;
      return;
    }
    this.sweep(nowMs, SWEEP_PER_WRITE);
    if (this.entries.size >= this.capacity) {
      this.sweep(nowMs, Infinity);
      if (this.entries.size >= this.capacity) {
        this.onFull(this.name);
        throw new StoreCapacityError(this.name, this.capacity);
      }
    }
    this.entries.set(key, { value, expiresAtMs });
  }

  /** Removes expired entries, at most `limit` looked at (Map order: oldest insertions first). */
  sweep(nowMs: number, limit: number, budget?: { deadlineMs: number; clock: () => number }): { scanned: number; removed: number; truncated: boolean } {
    let scanned = 0;
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (scanned >= limit) return { scanned, removed, truncated: true };
      scanned++;
      if (entry.expiresAtMs <= nowMs) {
        this.entries.delete(key);
        removed++;
      }
      if (budget && scanned % 1024 === 0 && budget.clock() > budget.deadlineMs) return { scanned, removed, truncated: true };
    }
    return { scanned, removed, truncated: false };
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}

interface Counter extends RateLimitState {
  /** When this counter can be forgotten (window and block both over), epoch ms. */
  idleAtMs: number;
}

/**
 * A bounded space of rate-limit counters, O(1) state each. Map order is least-recently-hit first. Beyond its
 * capacity it drops, in this order, an idle counter (window and block over), then the least recently hit
 * counter that is not blocked; an active block is never dropped (a flood of new keys cannot lift it). When the
 * oldest entries are all active blocks, the hit is refused with a {@link StoreCapacityError}.
 */
export class CounterSpace {
  private readonly counters = new Map<string, Counter>();

  constructor(
    readonly name: string,
    private readonly capacity: number,
    private readonly onFull: (space: string) => void,
  ) {}

  hit(key: string, hit: Omit<RateLimitHit, 'space' | 'key'>): RateLimitResult {
    const { nowMs, limit, ttlMs, blockDurationMs, algorithm } = hit;
    let counter = this.counters.get(key);
    if (counter) {
      this.counters.delete(key); // re-inserted last: most recently hit
      if (counter.idleAtMs <= nowMs) counter = undefined;
    } else if (this.counters.size >= this.capacity) {
      this.makeRoom(nowMs);
    }
    // hitRateLimit updates the counter in place (a new one when there was none).
    const { state, result } = hitRateLimit(counter, nowMs, limit, ttlMs, blockDurationMs, algorithm);
    const updated = state as Counter;
    updated.idleAtMs = Math.max(algorithm === 'fixed' ? state.window : (state.window + 2) * ttlMs, state.blockedUntilMs);
    this.counters.set(key, updated);
    return result;
  }

  private makeRoom(nowMs: number): void {
    let victim: string | undefined;
    let looked = 0;
    for (const [key, counter] of this.counters) {
      if (counter.idleAtMs <= nowMs) {
        this.counters.delete(key);
        return;
      }
      if (victim === undefined && counter.blockedUntilMs <= nowMs) victim = key;
      if (++looked >= EVICTION_SCAN) break;
    }
    if (victim === undefined) {
      this.onFull(this.name);
      throw new StoreCapacityError(this.name, this.capacity);
    }
    this.counters.delete(victim);
  }

  /** Drops idle counters, at most `limit` looked at. */
  sweep(nowMs: number, limit: number): number {
    let looked = 0;
    let removed = 0;
    for (const [key, counter] of this.counters) {
      if (looked++ >= limit) break;
      if (counter.idleAtMs <= nowMs) {
        this.counters.delete(key);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.counters.size;
  }

  clear(): void {
    this.counters.clear();
  }
}

/**
 * A bounded map for state that can be rebuilt (context profiles, anomaly baselines): least recently used first
 * beyond its capacity, and dropped when idle longer than its TTL. Losing an entry makes a user look new (trust on
 * first use), which is why security state never lives here.
 */
export class LruSpace<V> {
  private readonly entries = new Map<string, { value: V; usedAtMs: number; ttlMs: number }>();

  constructor(private readonly capacity: number) {}

  get(key: string, nowMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (nowMs - entry.usedAtMs > entry.ttlMs) return undefined;
    entry.usedAtMs = nowMs;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, nowMs: number, ttlMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, usedAtMs: nowMs, ttlMs });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  forEach(visit: (value: V) => void): void {
    for (const entry of this.entries.values()) visit(entry.value);
  }

  /** Drops idle entries, at most `limit` looked at. */
  sweep(nowMs: number, limit: number): number {
    let looked = 0;
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (looked++ >= limit) break;
      if (nowMs - entry.usedAtMs > entry.ttlMs) {
        this.entries.delete(key);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
