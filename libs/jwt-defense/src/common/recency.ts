/**
 * Least-recently-used order for a bounded `Map` (whose iteration order is insertion order), kept to within a quarter of
 * its capacity: a used entry moves to the end (a `delete` and a `set`, the two dearest Map operations of the hot path)
 * only once a quarter of the capacity of newer insertions came after it. An entry used since is therefore always
 * among the newest quarter, never among the first to go; an entry used on every request of a busy space moves once per
 * quarter of capacity, not on every use. Spaces smaller than 8 keep the exact order (they move on every use).
 */
export class Recency {
  private stamps = 0;
  private readonly window: number;

  constructor(capacity: number) {
    this.window = capacity < 8 ? 0 : Math.floor(capacity / 4);
  }

  private stamp(): number {
    return ++this.stamps;
  }

  /** `entry`, stamped, at the end of `map` (a new entry, or one that moves). */
  insert<E extends { stamp: number }>(map: Map<string, E>, key: string, entry: E): void {
    entry.stamp = this.stamp();
    map.set(key, entry);
  }

  /** `entry` (in `map` under `key`) was used now: it moves to the end once it is out of the newest quarter. */
  touch<E extends { stamp: number }>(map: Map<string, E>, key: string, entry: E): void {
    if (this.stamps - entry.stamp < this.window) return;
    map.delete(key);
    this.insert(map, key, entry);
  }
}
