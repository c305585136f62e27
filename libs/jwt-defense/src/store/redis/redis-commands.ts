import type { Cluster, Redis } from 'ioredis';
import { DefenseStoreError } from '../defense-store.errors.js';
import { waitForRedis } from './redis-connection.js';

/**
 * Runs the commands of one Redis client with the guarantees the fail modes rely on:
 * - every failure is a {@link DefenseStoreError};
 * - a client that has not connected yet (just built from a URL) is waited for, within the command timeout,
 *   instead of failing its first commands;
 * - after a command timed out (a hung or paused Redis), the following commands fail at once instead of each
 *   waiting its own timeout, so one request's store work (and every request's) answers within about one
 *   timeout; one command every `probeIntervalMs` is let through as a probe, and the first success closes the gate.
 */
export class RedisCommands {
  private everReady: boolean;
  private openSinceMs = 0;
  private nextProbeMs = 0;
  private readonly probeIntervalMs: number;

  constructor(
    readonly client: Redis | Cluster,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.everReady = client.status === 'ready';
    if (!this.everReady) client.once('ready', () => (this.everReady = true));
    this.probeIntervalMs = Math.min(Math.max(Math.floor(timeoutMs / 2), 100), 1000);
  }

  /** True while commands fail fast after a timeout. */
  get degraded(): boolean {
    return this.openSinceMs > 0;
  }

  async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.openSinceMs > 0) {
      const nowMs = this.now();
      if (nowMs < this.nextProbeMs) throw new DefenseStoreError('Redis did not answer in time recently; failing fast');
      this.nextProbeMs = nowMs + this.probeIntervalMs;
    }
    try {
      if (!this.everReady) await waitForRedis(this.client, this.timeoutMs);
      const result = await command();
      this.openSinceMs = 0;
      return result;
    } catch (error) {
      if (isTimeout(error)) {
        const nowMs = this.now();
        if (this.openSinceMs === 0) this.openSinceMs = nowMs;
        this.nextProbeMs = nowMs + this.probeIntervalMs;
      }
      if (error instanceof DefenseStoreError) throw error;
      throw new DefenseStoreError('Redis command failed', { cause: error });
    }
  }
}

function isTimeout(error: unknown): boolean {
  const message = (error as Error | undefined)?.message ?? '';
  return message === 'Command timed out' || message.startsWith('Redis not ready after');
}
