import { Redis } from 'ioredis';

/**
 * Every key of a demo's Redis prefix, as `key → "<type> <expiry> <value>"`: what the demo's defence state IS, so
 * that two snapshots around a request say whether it changed anything. Read with SCAN (never KEYS), TYPE, the
 * whole value of each type, and PEXPIRETIME (the absolute expiry: a TTL re-armed by a request shows, and time
 * passing does not).
 */
export interface StateSnapshot {
  /** Redis's clock when the snapshot was taken, epoch ms. */
  takenAtMs: number;
  /** key → `<type> <PEXPIRETIME> <value>`. */
  entries: Record<string, string>;
}

/**
 * Keys a hostile request may change, by the corpus's contract: the per-IP throttle counters (`{t:ip:...}`: the
 * attacker's own IP budget is meant to count it) and the security event stream (`{e}:events`: the log records
 * refusals). Everything else under the prefix is compared: revocations (`:j:`), sessions (`:s:`), user and
 * step-up epochs (`:n:`, `:p:`), per-user counters (`:r:`), learned contexts (`:c:`), anomaly baselines
 * (`:a:`), DPoP replay records (`:dp:`), the global state (`{g}:global`) and any other key.
 */
export function isExcludedKey(prefix: string, key: string): boolean {
  return key.startsWith(`${prefix}{t:ip:`) || key === `${prefix}{e}:events`;
}

/** Reads one key's whole value by its type, queued on a pipeline. */
function queueValue(pipeline: ReturnType<Redis['pipeline']>, key: string, type: string): boolean {
  switch (type) {
    case 'string':
      pipeline.get(key);
      return true;
    case 'hash':
      pipeline.hgetall(key);
      return true;
    case 'set':
      pipeline.smembers(key);
      return true;
    case 'zset':
      pipeline.zrange(key, 0, -1, 'WITHSCORES');
      return true;
    case 'list':
      pipeline.lrange(key, 0, -1);
      return true;
    case 'stream':
      pipeline.xrange(key, '-', '+');
      return true;
    default:
      return false;
  }
}

function canonical(type: string, value: unknown): string {
  if (type === 'hash') return JSON.stringify(Object.entries(value as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (type === 'set') return JSON.stringify([...(value as string[])].sort());
  return JSON.stringify(value);
}

function results(replies: Array<[Error | null, unknown]> | null): unknown[] {
  return (replies ?? []).map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

export async function snapshotState(client: Redis, prefix: string): Promise<StateSnapshot> {
  const [sec, usec] = await client.time();
  const takenAtMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found.filter((key) => !isExcludedKey(prefix, key)));
  } while (cursor !== '0');
  // Two pipelined round trips: the types and absolute expiries, then every value. A key that expires in between
  // reads as (gone): a difference, which is what it is.
  const meta = client.pipeline();
  for (const key of keys) meta.type(key).call('PEXPIRETIME', key);
  const described = results(await meta.exec());
  const values = client.pipeline();
  const types = keys.map((key, i) => {
    const type = described[2 * i] as string;
    return { type, queued: queueValue(values, key, type) };
  });
  const read = results(await values.exec());
  const entries: Record<string, string> = {};
  let next = 0;
  keys.forEach((key, i) => {
    const { type, queued } = types[i];
    const value = queued ? canonical(type, read[next++]) : type === 'none' ? '(gone)' : `(unreadable type ${type})`;
    entries[key] = `${type} ${described[2 * i + 1] as number} ${value}`;
  });
  return { takenAtMs, entries };
}

/** When a snapshot entry expires, epoch ms (undefined: no expiry). */
function expiryOf(entry: string): number | undefined {
  const expiry = Number(entry.split(' ')[1]);
  return expiry > 0 ? expiry : undefined;
}

/**
 * The keys whose entry differs (added, removed or changed), sorted. A key gone because its own expiry passed
 * between the snapshots (a DPoP replay record of a valid request, 2 minutes) is time, not a change.
 */
export function changedKeys(before: StateSnapshot, after: StateSnapshot): string[] {
  const keys = new Set([...Object.keys(before.entries), ...Object.keys(after.entries)]);
  return [...keys]
    .filter((key) => before.entries[key] !== after.entries[key])
    .filter((key) => {
      const expiry = before.entries[key] !== undefined && after.entries[key] === undefined ? expiryOf(before.entries[key]) : undefined;
      return expiry === undefined || expiry > after.takenAtMs;
    })
    .sort();
}

/** A readable diff, for failure messages: `key: before → after`. */
export function describeChanges(before: StateSnapshot, after: StateSnapshot): string[] {
  return changedKeys(before, after).map((key) => `${key}: ${before.entries[key] ?? '(absent)'} → ${after.entries[key] ?? '(absent)'}`);
}
