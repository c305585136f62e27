import { CounterSpace, LruSpace } from '../store/memory/bounded-spaces.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { VerifiedTokenCache } from '../token/verified-token.cache.js';

// The bounded spaces of the hot path keep least-recently-used order to within a quarter of their capacity (`Recency`):
// what is used keeps its place among the newest, and a hot entry moves once per quarter of capacity, not on every use.

const NOW = Date.UTC(2026, 0, 1);
const NOW_SEC = Math.floor(NOW / 1000);
const RATE = { nowMs: NOW, limit: 1e9, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const };

function principal(sub: string): AccessTokenPrincipal {
  return { sub, iat: NOW_SEC, exp: NOW_SEC + 3600, claims: {} } as unknown as AccessTokenPrincipal;
}

/** Map re-insertions (a `delete` then a `set`) of `key` made by `body`. */
function movesDuring(key: string, body: () => void): number {
  const spy = jest.spyOn(Map.prototype, 'delete');
  try {
    body();
    return spy.mock.calls.filter(([deleted]) => deleted === key).length;
  } finally {
    spy.mockRestore();
  }
}

interface Space {
  put(key: string): void;
  use(key: string): void;
  has(key: string): boolean;
}

const spaces: Array<[string, (capacity: number) => Space]> = [
  [
    'LruSpace (context profiles, anomaly baselines)',
    (capacity) => {
      const space = new LruSpace<number>(capacity);
      return { put: (key) => space.set(key, 1, NOW, 60_000), use: (key) => void space.get(key, NOW), has: (key) => space.get(key, NOW) !== undefined };
    },
  ],
  [
    'CounterSpace (rate-limit counters)',
    (capacity) => {
      const space = new CounterSpace('test', capacity, () => undefined);
      const hits = new Map<string, number>();
      const hit = (key: string) => hits.set(key, space.hit(key, RATE).totalHits);
      return { put: hit, use: hit, has: (key) => space.hit(key, RATE).totalHits > (hits.get(key) ?? 0) };
    },
  ],
  [
    'VerifiedTokenCache (verified tokens)',
    (capacity) => {
      const cache = new VerifiedTokenCache(capacity);
      return { put: (key) => cache.set(key, principal(key), 0), use: (key) => void cache.get(key, NOW_SEC), has: (key) => cache.get(key, NOW_SEC) !== undefined };
    },
  ],
];

describe.each(spaces)('%s keeps least-recently-used order to within a quarter of its capacity', (_name, make) => {
  it('below 8 entries, exactly: the entry used last is not the one that goes', () => {
    const space = make(4);
    for (const key of ['a', 'b', 'c', 'd']) space.put(key);
    space.use('a');
    space.put('e'); // full: the least recently used goes, b (not a, the oldest inserted)
    expect(space.has('a')).toBe(true);
    expect(space.has('b')).toBe(false);
  });

  it('an entry used as it falls out of the newest quarter moves to the end: it outlives every entry inserted before it', () => {
    const space = make(100);
    for (let i = 0; i < 100; i++) space.put(`old-${i}`);
    space.use('old-0'); // the oldest, far out of the newest quarter
    for (let i = 0; i < 99; i++) space.put(`new-${i}`); // 99 evictions: old-1 .. old-99
    expect(space.has('old-0')).toBe(true);
    expect(space.has('old-1')).toBe(false);
  });

  it('a hot entry outlives any stream of new entries, and moves once per quarter of capacity, not on every use', () => {
    const space = make(100);
    space.put('hot');
    const moves = movesDuring('hot', () => {
      for (let i = 0; i < 1000; i++) {
        space.put(`new-${i}`); // 900 evictions
        space.use('hot');
      }
    });
    expect(space.has('hot')).toBe(true);
    // At most one move per 25 insertions (in exact order it would move on each of its 1000 uses).
    expect(moves).toBeLessThanOrEqual(1000 / 25 + 1);
    expect(moves).toBeGreaterThan(0);
  });
});
