import type { Cluster, Redis } from 'ioredis';
import { THROTTLE_SCRIPT } from '../../throttling/rate-limit.lua.js';
import type { RateLimitResult } from '../../throttling/rate-limit.js';
import type { RateLimitHit } from '../defense-store.ports.js';
import { DefenseStoreError } from '../defense-store.errors.js';

type Scripted = {
  jwtdThrottle(counter: string, limit: number, ttlMs: number, blockMs: number, algorithm: string, nowMs: number): Promise<unknown>;
};

/** The key of a rate-limit counter: its own hash tag, so that it runs on Redis Cluster (the per-IP check part uses it too). */
export function counterKeyOf(prefix: string, space: string, key: string): string {
  return `${prefix}{t:${space}:${key}}`;
}

/**
 * One atomic Lua call (EVALSHA) per hit on a rate-limit counter: one hash per counter, under its own hash tag
 * (`{t:<space>:<key>}`), so it runs on Redis Cluster. Shared by `RedisDefenseStore.hit` and `RedisThrottlerStorage`.
 */
export class RedisRateLimiter {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly prefix: string,
  ) {
    client.defineCommand('jwtdThrottle', { numberOfKeys: 1, lua: THROTTLE_SCRIPT });
  }

  async hit(request: RateLimitHit): Promise<RateLimitResult> {
    const reply = await (this.client as unknown as Scripted).jwtdThrottle(
      counterKeyOf(this.prefix, request.space, request.key),
      request.limit,
      Math.max(1, Math.floor(request.ttlMs)),
      Math.max(0, Math.floor(request.blockDurationMs)),
      request.algorithm,
      Math.floor(request.nowMs),
    );
    if (!Array.isArray(reply) || reply.length !== 4 || !reply.every((value) => typeof value === 'number')) {
      throw new DefenseStoreError('unexpected Redis reply for a rate-limit hit');
    }
    const [totalHits, timeToExpireMs, blocked, timeToBlockExpireMs] = reply as number[];
    return { totalHits, timeToExpireMs, blocked: blocked === 1, timeToBlockExpireMs };
  }
}
