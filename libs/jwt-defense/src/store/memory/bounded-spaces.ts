import { Recency } from '../../common/recency.js';
import { hitRateLimit, type RateLimitResult, type RateLimitState } from '../../throttling/rate-limit.js';
import type { RateLimitHit } from '../defense-store.ports.js';
import { StoreCapacityError } from '../defense-store.errors.js';

/** Entries looked at for expiry on each write: amortised cleanup without a timer per entry. */
const SWEEP_PER_WRITE = 8;
/** How far from the least recently used end a full counter space looks for an entry it may drop. */
const EVICTION_SCAN = 64;

/**
 * Who holds which keys of a bounded space: each principal's share (a user's tag, a client address) is counted and
 * capped, so that one principal can only ever make room among its own entries, never fill a space for everyone.
 * Keys are kept in insertion order: a principal's oldest entry comes first.
 */
export class PrincipalShares {
  private readonly byOwner = new Map<string, Set<string>>();

  constructor(readonly limit: number) {}

  count(owner: string): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  add(owner: string, key: string): void {
    let keys = this.byOwner.get(owner);
    if (!keys) {
      keys = new Set();
      this.byOwner.set(owner, keys);
    }
    keys.add(key);
  }

  remove(owner: string, key: string): void {
    const keys = this.byOwner.get(owner);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) this.byOwner.delete(owner);
  }

  /** The owner's oldest key. */
  oldestOf(owner: string): string | undefined {
    return this.byOwner.get(owner)?.values().next().value;
  }

  /** The owner's keys, oldest first (a copy: the caller may remove while it walks). */
  keysOf(owner: string): string[] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  clear(): void {
    this.byOwner.clear();
  }
}

/** A principal's share of one space, given the most entries any principal may hold and the space's capacity. */
export function shareOf(maxPerPrincipal: number, capacity: number): number {
  // Never the whole space: one principal must always leave room for the others.
  return Math.max(1, Math.min(maxPerPrincipal, Math.floor(capacity / 2)));
}

/**
 * A bounded map for security state (revocations, sessions, user epochs, DPoP proofs): an entry lives until its own
 * expiry and is NEVER dropped before it. Each entry has an owner (the principal it belongs to), whose share is capped:
 * beyond it that principal's expired entries are swept, and if its share is still full its write is refused. When the
 * whole space is full, expired entries are swept; if it is still full, the write is refused. A refusal is a
 * {@link StoreCapacityError} (the caller answers 503, the store reports it), because forgetting a revocation would
 * silently re-validate a revoked token.
 */
export class ExpiringSpace<V> {
  private readonly entries = new Map<string, { value: V; expiresAtMs: number; owner: string }>();
  private readonly shares: PrincipalShares;

  constructor(
    readonly name: string,
    private readonly capacity: number,
    private readonly now: () => number,
    private readonly onFull: (space: string) => void,
    maxPerPrincipal = capacity,
  ) {
    this.shares = new PrincipalShares(shareOf(maxPerPrincipal, capacity));
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /**
   * Stores `value` until `expiresAtMs`, held by `owner`. Throws {@link StoreCapacityError} when the owner's share or
   * the space is full of live entries.
   */
  set(key: string, value: V, expiresAtMs: number, owner: string): void {
    const nowMs = this.now();
    const existing = this.entries.get(key);
    if (existing) {
      existing.value = value;
      existing.expiresAtMs = expiresAtMs;
      return;
    }
    this.sweep(nowMs, SWEEP_PER_WRITE);
    if (this.shares.count(owner) >= this.shares.limit) {
      for (const own of this.shares.keysOf(owner)) if (this.entries.get(own)!.expiresAtMs <= nowMs) this.delete(own);
      if (this.shares.count(owner) >= this.shares.limit) {
        this.onFull(`${this.name} (one principal's share)`);
        throw new StoreCapacityError(`${this.name} (one principal's share)`, this.shares.limit);
      }
    }
    if (this.entries.size >= this.capacity) {
      this.sweep(nowMs, Infinity);
      if (this.entries.size >= this.capacity) {
        this.onFull(this.name);
        throw new StoreCapacityError(this.name, this.capacity);
      }
    }
    this.entries.set(key, { value, expiresAtMs, owner });
    this.shares.add(owner, key);
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.shares.remove(entry.owner, key);
  }

  /** Removes expired entries, at most `limit` looked at (Map order: oldest insertions first). */
  sweep(nowMs: number, limit: number, budget?: { deadlineMs: number; clock: () => number }): { scanned: number; removed: number; truncated: boolean } {
    let scanned = 0;
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (scanned >= limit) return { scanned, removed, truncated: true };
      scanned++;
      if (entry.expiresAtMs <= nowMs) {
        this.delete(key);
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
    this.shares.clear();
  }
}

interface Counter extends RateLimitState {
  /** When this counter can be forgotten (window and block both over), epoch ms. */
  idleAtMs: number;
  /** The principal that made the counter (its share of the space). */
  owner: string;
  /** Its place in the least-recently-hit order (`Recency`). */
  stamp: number;
}

/**
 * A bounded space of rate-limit counters, O(1) state each. Map order is least-recently-hit first (to within a quarter
 * of the capacity: `Recency`). A principal (the
 * client address that makes the hits, by default the counter's own key) holds a capped share of the counters it
 * created: beyond it, its own idle counter goes, then its own oldest that is not blocked, so that one client inventing
 * keys (usernames) only ever pushes out its own. Beyond the space's capacity it drops, in this order, an idle counter
 * (window and block over), then the least recently hit counter that is not blocked; an active block is never dropped
 * (a flood of new keys cannot lift it). When the candidates are all active blocks, the hit is refused with a
 * {@link StoreCapacityError}.
 */
export class CounterSpace {
  private readonly counters = new Map<string, Counter>();
  private readonly shares: PrincipalShares;
  private readonly recency: Recency;

  constructor(
    readonly name: string,
    private readonly capacity: number,
    private readonly onFull: (space: string) => void,
    maxPerPrincipal = capacity,
  ) {
    this.shares = new PrincipalShares(shareOf(maxPerPrincipal, capacity));
    this.recency = new Recency(capacity);
  }

  hit(key: string, hit: Omit<RateLimitHit, 'space' | 'key'>, owner = key): RateLimitResult {
    const { nowMs, limit, ttlMs, blockDurationMs, algorithm } = hit;
    let counter = this.counters.get(key);
    if (counter && counter.idleAtMs <= nowMs) {
      this.counters.delete(key);
      this.shares.remove(counter.owner, key);
      counter = undefined;
    }
    if (!counter) {
      if (this.shares.count(owner) >= this.shares.limit) this.makeRoomFor(owner, nowMs);
      if (this.counters.size >= this.capacity) this.makeRoom(nowMs);
    }
    // hitRateLimit updates the counter in place (a new one when there was none).
    const { state, result } = hitRateLimit(counter, nowMs, limit, ttlMs, blockDurationMs, algorithm);
    const updated = state as Counter;
    updated.idleAtMs = Math.max(algorithm === 'fixed' ? state.window : (state.window + 2) * ttlMs, state.blockedUntilMs);
    if (counter) {
      this.recency.touch(this.counters, key, counter); // most recently hit last
    } else {
      updated.owner = owner;
      this.shares.add(owner, key);
      this.recency.insert(this.counters, key, updated);
    }
    return result;
  }

  /** A principal at its share: its own idle counter goes, else its own oldest not blocked; else the hit is refused. */
  private makeRoomFor(owner: string, nowMs: number): void {
    let victim: string | undefined;
    for (const key of this.shares.keysOf(owner)) {
      const counter = this.counters.get(key)!;
      if (counter.idleAtMs <= nowMs) {
        this.drop(key);
        return;
      }
      if (victim === undefined && counter.blockedUntilMs <= nowMs) victim = key;
    }
    if (victim === undefined) {
      this.onFull(`${this.name} (one principal's share)`);
      throw new StoreCapacityError(`${this.name} (one principal's share)`, this.shares.limit);
    }
    this.drop(victim);
  }

  private makeRoom(nowMs: number): void {
    let victim: string | undefined;
    let looked = 0;
    for (const [key, counter] of this.counters) {
      if (counter.idleAtMs <= nowMs) {
        this.drop(key);
        return;
      }
      if (victim === undefined && counter.blockedUntilMs <= nowMs) victim = key;
      if (++looked >= EVICTION_SCAN) break;
    }
    if (victim === undefined) {
      this.onFull(this.name);
      throw new StoreCapacityError(this.name, this.capacity);
    }
    this.drop(victim);
  }

  private drop(key: string): void {
    const counter = this.counters.get(key);
    if (!counter) return;
    this.counters.delete(key);
    this.shares.remove(counter.owner, key);
  }

  /** Drops idle counters, at most `limit` looked at. */
  sweep(nowMs: number, limit: number): number {
    let looked = 0;
    let removed = 0;
    for (const [key, counter] of this.counters) {
      if (looked++ >= limit) break;
      if (counter.idleAtMs <= nowMs) {
        this.drop(key);
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
    this.shares.clear();
  }
}

/**
 * A bounded map for state that can be rebuilt (context profiles, anomaly baselines): least recently used first
 * beyond its capacity (to within a quarter of it: `Recency`), and dropped when idle longer than its TTL. Losing an entry makes a user look new (trust on
 * first use), which is why security state never lives here.
 */
export class LruSpace<V> {
  private readonly entries = new Map<string, { value: V; usedAtMs: number; ttlMs: number; stamp: number }>();
  private readonly recency: Recency;

  constructor(private readonly capacity: number) {
    this.recency = new Recency(capacity);
  }

  get(key: string, nowMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (nowMs - entry.usedAtMs > entry.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    entry.usedAtMs = nowMs;
    this.recency.touch(this.entries, key, entry);
    return entry.value;
  }

  set(key: string, value: V, nowMs: number, ttlMs: number): void {
    const entry = this.entries.get(key);
    if (entry) {
      entry.value = value;
      entry.usedAtMs = nowMs;
      entry.ttlMs = ttlMs;
      this.recency.touch(this.entries, key, entry);
      return;
    }
    this.recency.insert(this.entries, key, { value, usedAtMs: nowMs, ttlMs, stamp: 0 });
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

/**
 * The bounded security event log: the newest `capacity` events, each principal (the event's user, else its client
 * address) holding at most its share, so that one client flooding the log only ever replaces its own events, never
 * the trail of others'. Beyond the capacity the oldest event goes.
 */
export class EventLog<E> {
  private readonly events = new Map<number, { event: E; owner: string | undefined }>();
  private readonly shares: PrincipalShares;
  private next = 0;

  constructor(
    private readonly capacity: number,
    maxPerPrincipal = capacity,
  ) {
    this.shares = new PrincipalShares(shareOf(maxPerPrincipal, capacity));
  }

  /** Appends `event` held by `owner`; `undefined` for the API's own events (incident actions), which no client can flood. */
  append(event: E, owner: string | undefined): void {
    if (owner !== undefined && this.shares.count(owner) >= this.shares.limit) this.drop(Number(this.shares.oldestOf(owner)));
    if (this.events.size >= this.capacity) this.drop(this.events.keys().next().value as number);
    const id = this.next++;
    this.events.set(id, { event, owner });
    if (owner !== undefined) this.shares.add(owner, String(id));
  }

  /** Newest first. */
  *newestFirst(): IterableIterator<E> {
    const all = [...this.events.values()];
    for (let i = all.length - 1; i >= 0; i--) yield all[i].event;
  }

  get size(): number {
    return this.events.size;
  }

  clear(): void {
    this.events.clear();
    this.shares.clear();
  }

  private drop(id: number): void {
    const entry = this.events.get(id);
    if (!entry) return;
    this.events.delete(id);
    if (entry.owner !== undefined) this.shares.remove(entry.owner, String(id));
  }
}
