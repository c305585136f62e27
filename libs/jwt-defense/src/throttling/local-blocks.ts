/**
 * The blocks a remote store answered, remembered on this instance: a client it blocked is refused before any token
 * work and without a round trip until the block ends. Exact: a block is never lifted before its end, and a blocked hit
 * is not counted (rate-limit.ts), so skipping the store changes nothing it holds. Bounded: beyond `capacity` the oldest
 * is forgotten (which costs that client one round trip, never a wrong answer).
 */
export class LocalBlocks {
  private readonly until = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** Remembers that `key` is blocked until `untilMs` (epoch ms, this instance's clock). */
  remember(key: string, untilMs: number): void {
    this.until.delete(key);
    this.until.set(key, untilMs);
    if (this.until.size > this.capacity) this.until.delete(this.until.keys().next().value as string);
  }

  /** How long `key` stays blocked from `nowMs`, in ms; 0 when it is not (known to be) blocked. */
  remainingMs(key: string, nowMs: number): number {
    const untilMs = this.until.get(key);
    if (untilMs === undefined) return 0;
    if (untilMs > nowMs) return untilMs - nowMs;
    this.until.delete(key);
    return 0;
  }

  get size(): number {
    return this.until.size;
  }
}
