import type { ThrottlerStorage } from '@nestjs/throttler';
import { Cluster, Redis } from 'ioredis';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { closeRedis, openRedis, waitForRedis, type RedisConnection } from '../store/redis-connection.js';
import { THROTTLE_SCRIPT } from './rate-limit.lua.js';
import { algorithmFor, toThrottlerRecord, type ThrottlerAlgorithms, type ThrottlerStorageRecord } from './throttler-storage.options.js';

export interface RedisThrottlerStorageOptions {
  /** A client to share (never closed by us), a URL, `RedisOptions` or `{ clusterNodes }`. */
  connection: RedisConnection;
  /** Key prefix, without `{` or `}`. Default `jwtd:`. */
  keyPrefix?: string;
  /** Algorithm for every throttler or per throttler name. Default `fixed`. */
  algorithm?: ThrottlerAlgorithms;
  /** Bound of one command on connections we open, in ms. Default 500. */
  commandTimeoutMs?: number;
  /** Time source, epoch ms. Default `Date.now`. */
  now?: () => number;
}

type Scripted = {
  jwtdThrottle(counter: string, limit: number, ttlMs: number, blockMs: number, algorithm: string, nowMs: number): Promise<unknown>;
};

/**
 * A `ThrottlerStorage` for @nestjs/throttler on Redis (standalone or Cluster): ONE atomic Lua call per hit
 * (EVALSHA), fixed or sliding window, one hash per counter (its own hash tag, so it runs on Redis Cluster). Usable on its own:
 * `ThrottlerModule.forRoot({ throttlers, storage: new RedisThrottlerStorage({ connection: redis }) })`.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  readonly client: Redis | Cluster;
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(private readonly options: RedisThrottlerStorageOptions) {
    this.now = options.now ?? Date.now;
    this.prefix = options.keyPrefix ?? 'jwtd:';
    if (/[{}]/.test(this.prefix)) throw new TypeError('jwt-defense: keyPrefix must not contain { or }');
    ({ client: this.client, owned: this.owned } = openRedis(options.connection, options.commandTimeoutMs));
    this.client.defineCommand('jwtdThrottle', { numberOfKeys: 1, lua: THROTTLE_SCRIPT });
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    let reply: unknown;
    try {
      reply = await (this.client as unknown as Scripted).jwtdThrottle(
        `${this.prefix}{t:${throttlerName}:${key}}`,
        limit,
        Math.max(1, Math.floor(ttl)),
        Math.max(1, Math.floor(blockDuration)),
        algorithmFor(this.options.algorithm, throttlerName),
        Math.floor(this.now()),
      );
    } catch (error) {
      throw new DefenseStoreError('Redis command failed', { cause: error });
    }
    if (!Array.isArray(reply) || reply.length !== 4 || !reply.every((value) => typeof value === 'number')) {
      throw new DefenseStoreError('unexpected Redis reply for throttle');
    }
    const [totalHits, timeToExpireMs, blocked, timeToBlockExpireMs] = reply as number[];
    return toThrottlerRecord({ totalHits, timeToExpireMs, blocked: blocked === 1, timeToBlockExpireMs });
  }

  /** Resolves once connected (or rejects after `timeoutMs`): commands fail fast while disconnected. */
  waitUntilReady(timeoutMs = 5000): Promise<void> {
    return waitForRedis(this.client, timeoutMs);
  }

  async close(): Promise<void> {
    await closeRedis(this.client, this.owned);
  }
}
