/**
 * Lets through the first event of a kind per key per period and counts the rest, so a flood (of 429s, of
 * store failures) does not flood the log. Bounded: at most `maxKeys` keys are tracked.
 */
export class EventSampler {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly periodMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** `undefined` when the event should be dropped; otherwise how many were dropped since the last one. */
  sample(key: string, nowMs: number): { suppressed: number } | undefined {
    const entry = this.last.get(key);
    if (entry && nowMs - entry.atMs < this.periodMs) {
      entry.suppressed++;
      return undefined;
    }
    this.last.delete(key);
    this.last.set(key, { atMs: nowMs, suppressed: 0 });
    if (this.last.size > this.maxKeys) this.last.delete(this.last.keys().next().value as string);
    return { suppressed: entry?.suppressed ?? 0 };
  }
}
