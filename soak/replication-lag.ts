// How long a revocation written on a Redis primary takes to be readable on its replica: the figure behind the
// "several regions" section of docs/RELIABILITY.md (a failover to the replica can lose what it had not received).
import { randomUUID } from 'node:crypto';
import { RedisDefenseStore } from '@jwt-defense/core/redis';
import { RedisServer } from '../test/support/redis-server.js';

/** Percentiles of one measure, in milliseconds. */
export interface LagFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** The measurement's result (replication-lag.json). */
export interface ReplicationLagReport {
  writes: number;
  /** Revocations read back from the replica, with their reason intact (must equal `writes`). */
  visibleOnReplica: number;
  redis: string;
  /** From sending the write to the primary's acknowledgement (one round trip and the script). */
  primaryAck: LagFigures;
  /**
   * From sending the write to the first read on the replica that returns it (reads start with the send and follow
   * each other): the time to be readable in the replica's region, over-estimated by at most one read round trip.
   */
  visibleOnReplicaAfterSend: LagFigures;
  /** `WAIT 1 <timeout>` on the primary right after each write: until one replica acknowledged it. */
  waitOneReplica: LagFigures;
  /** How often the replica was read per write before the revocation showed (0: already there at the first read). */
  readsBeforeVisible: { p50: number; max: number };
}

function figures(values: number[]): LagFigures {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return { p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(sorted[sorted.length - 1]), meanMs: round(values.reduce((sum, value) => sum + value, 0) / values.length) };
}

/**
 * Starts a local primary and a replica (`--replicaof`), revokes `writes` tokens one after another on the primary
 * through the library's Redis store, and while each is written reads the replica (through a second store on it) until
 * the revocation is there. Stops both servers before returning. `visibleTimeoutMs` bounds the wait for one revocation.
 */
export async function measureReplicationLag(writes: number, visibleTimeoutMs = 5000): Promise<ReplicationLagReport> {
  const primary = await RedisServer.start();
  let replica: RedisServer | undefined;
  const stores: RedisDefenseStore[] = [];
  try {
    replica = await primary.startReplica();
    // No WAIT in the writes: this measures the window that asynchronous replication leaves (WAIT 1 is timed apart).
    const writer = new RedisDefenseStore({ connection: primary.url, keyPrefix: 'lag:', replicaAcks: 0 });
    const reader = new RedisDefenseStore({ connection: replica.url, keyPrefix: 'lag:' });
    stores.push(writer, reader);
    await Promise.all([writer.ready(), reader.ready()]);
    const ackTimes: number[] = [];
    const visibleTimes: number[] = [];
    const waits: number[] = [];
    const reads: number[] = [];
    let visible = 0;
    for (let i = 0; i < writes; i++) {
      const jti = randomUUID();
      const reason = `lag-${i}`;
      // Read the replica from the moment the write is sent, in parallel with it: the first read that returns the
      // revocation bounds the propagation from above (by one read's round trip).
      const sent = performance.now();
      let acked = 0;
      const write = writer.revokeToken('lag', { jti, reason, revokedAtMs: Date.now(), actor: 'replication-lag', sub: `user-${i % 100}` }, 600_000).then(() => {
        acked = performance.now();
      });
      let count = 0;
      for (;;) {
        const found = await reader.getRevocation('lag', jti);
        if (found) {
          if (found.reason === reason) visible++;
          break;
        }
        count++;
        if (performance.now() - sent > visibleTimeoutMs) throw new Error(`revocation ${i} not on the replica after ${visibleTimeoutMs} ms`);
      }
      const seen = performance.now();
      await write;
      ackTimes.push(acked - sent);
      visibleTimes.push(seen - sent);
      reads.push(count);
      // A second write, then WAIT on the same connection: the time until one replica acknowledged it.
      await writer.revokeToken('lag', { jti: `${jti}-w`, reason, revokedAtMs: Date.now(), actor: 'replication-lag', sub: `user-${i % 100}` }, 600_000);
      const waitStart = performance.now();
      const acks = Number(await writer.client.call('WAIT', 1, visibleTimeoutMs));
      if (acks < 1) throw new Error(`WAIT 1: no replica acknowledged write ${i}`);
      waits.push(performance.now() - waitStart);
    }
    const sortedReads = [...reads].sort((a, b) => a - b);
    return {
      writes,
      visibleOnReplica: visible,
      redis: /redis_version:([\d.]+)/.exec((await primary.call('INFO', 'server')) as string)?.[1] ?? 'unknown',
      primaryAck: figures(ackTimes),
      visibleOnReplicaAfterSend: figures(visibleTimes),
      waitOneReplica: figures(waits),
      readsBeforeVisible: { p50: sortedReads[Math.floor(sortedReads.length / 2)], max: sortedReads[sortedReads.length - 1] },
    };
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await replica?.destroy();
    await primary.destroy();
  }
}
