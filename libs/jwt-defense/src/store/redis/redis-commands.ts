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
 *   timeout; one command every `probeIntervalMs` is let through as a probe, and the first success closes the gate;
 * - a command refused because its Cluster slot is being migrated (`TRYAGAIN`: a multi-key script whose keys are
 *   split between the two nodes, or partly absent on both, which is the rule for our optional keys) is tried again
 *   every few ms until the migration closes, within the same timeout: `redis-cli --cluster reshard` moves a slot
 *   in milliseconds, so a reshard costs the slot's users some latency, not an answer. A migration left open longer
 *   fails that slot's commands (the fail mode applies to those users only); it never opens the gate above, which is
 *   for a Redis that does not answer. A refused command was not run, so running it again is safe.
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
      const result = await this.untilSlotSettles(command);
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

  /** `command()`, run again while its slot is being migrated (see the class comment), until the timeout. */
  private async untilSlotSettles<T>(command: () => Promise<T>): Promise<T> {
    const deadline = this.now() + this.timeoutMs;
    for (let pauseMs = MIGRATION_FIRST_PAUSE_MS; ; pauseMs = Math.min(pauseMs * 2, MIGRATION_MAX_PAUSE_MS)) {
      try {
        return await command();
      } catch (error) {
        if (!isSlotMigrating(error)) throw error;
        const left = deadline - this.now();
        if (left <= 0) throw new DefenseStoreError(`a Redis Cluster slot stayed in migration for more than ${this.timeoutMs} ms`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(pauseMs, left)));
      }
    }
  }
}

const MIGRATION_FIRST_PAUSE_MS = 5;
const MIGRATION_MAX_PAUSE_MS = 50;

/**
 * ioredis follows MOVED and ASK itself, and answers TRYAGAIN by retrying on a random node after
 * `retryDelayOnTryAgain` (which answers MOVED back to the source, and so on); once its redirections run out it
 * rejects with "Too many Cluster redirections. Last error: <the last one>". Only a refusal by a node (TRYAGAIN, MOVED,
 * ASK) means the command was not run; the same message after a closed connection or CLUSTERDOWN does not, and is
 * never run again here.
 */
const REFUSED_BY_MIGRATION = /^(?:TRYAGAIN\b|Too many Cluster redirections\. Last error: ReplyError: (?:TRYAGAIN|MOVED|ASK)\b)/;

function isSlotMigrating(error: unknown): boolean {
  return REFUSED_BY_MIGRATION.test((error as Error | undefined)?.message ?? '');
}

function isTimeout(error: unknown): boolean {
  const message = (error as Error | undefined)?.message ?? '';
  return message === 'Command timed out' || message.startsWith('Redis not ready after');
}
