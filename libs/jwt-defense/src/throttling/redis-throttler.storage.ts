import type { ThrottlerStorage } from '@nestjs/throttler';
import type { Cluster, Redis } from 'ioredis';
import { RedisCommands } from '../store/redis/redis-commands.js';
import { closeRedis, openRedis, waitForRedis, type OpenedRedis, type RedisConnection } from '../store/redis/redis-connection.js';
import { RedisRateLimiter } from '../store/redis/redis-rate-limiter.js';
import { algorithmFor, toThrottlerRecord, type ThrottlerAlgorithms, type ThrottlerStorageRecord } from './throttler-storage.options.js';

export interface RedisThrottlerStorageOptions {
  /** A client to share (never closed by us), a URL, `RedisOptions` or `{ clusterNodes }`. */
  connection: RedisConnection;
  /** Key prefix, without `{` or `}`. Default `jwtd:`. */
  keyPrefix?: string;
  /** Algorithm for every throttler or per throttler name. Default `fixed`. */
  algorithm?: ThrottlerAlgorithms;
  /** Bound of one command on connections we open, in ms; also how long a first request waits for the connection. Default 500. */
  commandTimeoutMs?: number;
  /** Time source, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * A `ThrottlerStorage` for @nestjs/throttler on Redis (standalone or Cluster): ONE atomic Lua call per hit
 * (EVALSHA), fixed or sliding window, one hash per counter (its own hash tag, so it runs on Redis Cluster).
 * Usable on its own, right after construction (its first requests wait for the connection):
 * `ThrottlerModule.forRoot({ throttlers, storage: new RedisThrottlerStorage({ connection: 'redis://...' }) })`.
 * A failure is thrown as `DefenseStoreError`.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  readonly client: Redis | Cluster;
  private readonly owned: boolean;
  private readonly connection: OpenedRedis;
  private readonly commands: RedisCommands;
  private readonly limiter: RedisRateLimiter;
  private readonly now: () => number;

  constructor(private readonly options: RedisThrottlerStorageOptions) {
    this.now = options.now ?? Date.now;
    const prefix = options.keyPrefix ?? 'jwtd:';
    if (/[{}]/.test(prefix)) throw new TypeError('jwt-defense: keyPrefix must not contain { or }');
    this.connection = openRedis(options.connection, options.commandTimeoutMs);
    ({ client: this.client, owned: this.owned } = this.connection);
    this.commands = new RedisCommands(this.client, options.commandTimeoutMs ?? 500);
    this.limiter = new RedisRateLimiter(this.client, prefix);
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const result = await this.commands.run(() =>
      this.limiter.hit({
        space: throttlerName,
        key,
        limit,
        ttlMs: ttl,
        blockDurationMs: blockDuration,
        algorithm: algorithmFor(this.options.algorithm, throttlerName),
        nowMs: this.now(),
      }),
    );
    return toThrottlerRecord(result);
  }

  /** Resolves once connected (or rejects after `timeoutMs`). Optional: the first requests wait by themselves. */
  waitUntilReady(timeoutMs = 5000): Promise<void> {
    return waitForRedis(this.client, timeoutMs, this.connection);
  }

  async close(): Promise<void> {
    await closeRedis(this.client, this.owned);
  }
}
