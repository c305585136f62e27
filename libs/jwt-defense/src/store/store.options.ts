import { Equals, IsDefined, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { OptionsCheck, optionsError, REQUIRED } from '../common/options.js';
import { DEFENSE_STORE_METHODS, type DefenseStore } from './defense-store.ports.js';
import { redisUrlProblem } from './redis/redis-url.js';

/** The embedded store: one process, bounded spaces (see docs/REVOCATION.md for sizing). */
export class MemoryStoreOptions {
  declare readonly [REQUIRED]?: { type: true };
  /** `memory`: the embedded store, for one process. The default store. */
  @Equals('memory') type!: 'memory';
  /** Most live jti revocations. Default 100000. Never evicted early: when full, a new revocation answers 503 and a `store_full` event is recorded. */
  @IsInt() @Min(1) @Max(100_000_000) maxRevocations: number = 100_000;
  /** Most live refresh sessions. Default 100000. Never evicted early: when full, a login answers 503 (`store_full` event). */
  @IsInt() @Min(1) @Max(100_000_000) maxSessions: number = 100_000;
  /** Most live per-user revocation epochs. Default 100000. Never evicted early: when full, revoke-all answers 503 (`store_full` event). */
  @IsInt() @Min(1) @Max(100_000_000) maxUserEpochs: number = 100_000;
  /** Most rate-limit counters per space (client IPs, body values, users). Default 100000. Idle counters go first, active blocks never. */
  @IsInt() @Min(1) @Max(100_000_000) maxCounters: number = 100_000;
  /** Most users whose context profile (layer 3) and anomaly baselines (layer 4) are kept; the least recently used go (they can be relearned). Default 100000. */
  @IsInt() @Min(1) @Max(100_000_000) maxProfiles: number = 100_000;
  /**
   * Most DPoP proofs remembered for their replay window (`dpop.proofWindowSec`). Never evicted early: when full, a new
   * proof is refused (503). So it bounds the DPoP requests one instance takes per second: about this number divided by
   * the window (the default holds ~1600 proofs/s with the 60 s window). Default 100000.
   */
  @IsInt() @Min(1) @Max(100_000_000) maxDpopProofs: number = 100_000;
  /** Most security events kept (the oldest go first). Default 10000. */
  @IsInt() @Min(1) @Max(10_000_000) maxEvents: number = 10_000;
  /**
   * Most entries one principal (a user, a client address) may hold in any one of the spaces above, and never more
   * than half of a space: beyond its share a principal only ever makes room among its own entries (its idle counters,
   * its oldest events) or is refused (503 for its own security state), so one account or client can never fill a
   * space for the others. Default 1000.
   */
  @IsInt() @Min(1) @Max(100_000_000) maxPerPrincipal: number = 1000;
}

/**
 * How the module reaches Redis, typed without ioredis so that the main entry's types never need it installed: a
 * URL (`redis://`, `rediss://`), an ioredis `Redis` or `Cluster` (never closed by us), ioredis `RedisOptions`, or
 * `{ clusterNodes, clusterOptions? }`. `RedisConnection` from `@jwt-defense/core/redis` is the same union with
 * ioredis' own types (use it with `satisfies` to have your options checked); each one is a `RedisStoreConnection`.
 */
export type RedisStoreConnection = string | object;

/** How many replicas a revocation write waits for (see `RedisStoreOptions.replicaAcks`). */
export type ReplicaAcks = 'auto' | 0 | 1 | 2 | 3 | 4 | 5;

/** Shared state on Redis, standalone or Cluster (needs the optional peer `ioredis`, loaded only then). */
@OptionsCheck<RedisStoreOptions>((options, path) => {
  const connection: unknown = options.connection;
  if (typeof connection === 'string') {
    const problem = redisUrlProblem(connection);
    if (problem !== undefined) throw optionsError(`${path}.connection`, problem);
  } else if (connection === null || typeof connection !== 'object') {
    throw optionsError(`${path}.connection`, 'must be a redis:// or rediss:// URL, an ioredis Redis or Cluster, RedisOptions or { clusterNodes }');
  }
  if (options.replicaAcks !== 0 && options.replicaAckTimeoutMs !== undefined && options.replicaAckTimeoutMs >= options.commandTimeoutMs) {
    throw optionsError(
      `${path}.replicaAckTimeoutMs`,
      `(${options.replicaAckTimeoutMs}) must be below ${path}.commandTimeoutMs (${options.commandTimeoutMs}), or the wait for replicas is cut by the command timeout: lower it or raise commandTimeoutMs`,
    );
  }
})
export class RedisStoreOptions {
  declare readonly [REQUIRED]?: { type: true; connection: true };
  /** `redis`: Redis standalone or Cluster, shared by every instance. */
  @Equals('redis') type!: 'redis';
  /**
   * An ioredis `Redis` or `Cluster` (never closed by us), a URL (`redis://[user:password@]host:port[/db]`, `rediss://`
   * for TLS, or a unix socket path; a URL ioredis would misread stops the boot), `RedisOptions`, or `{ clusterNodes }`
   * (see `RedisStoreConnection`). Required.
   */
  @IsDefined() connection!: RedisStoreConnection;
  /** Prefix of every key, without `{` or `}`. Default `jwtd:`. */
  @IsString() @Matches(/^[^{}]*$/, { message: 'keyPrefix must not contain { or }: they would change the Cluster hash slot' }) keyPrefix: string = 'jwtd:';
  /**
   * Bound of one command on connections we open, in ms. A hung Redis fails a request within about this (then
   * the fail mode applies); after a timeout, commands fail at once until Redis answers again. On a Cluster, a command
   * refused while its slot is being migrated (`TRYAGAIN`) is tried again within this bound, so a reshard costs
   * latency, not answers. Default 500; 10 to 60000.
   */
  @IsInt() @Min(10) @Max(60_000) commandTimeoutMs: number = 500;
  /** Approximate length cap of the security event stream (`XADD MAXLEN ~`). Default 10000. */
  @IsInt() @Min(1) @Max(10_000_000) maxEvents: number = 10_000;
  /**
   * Replicas that must acknowledge a revocation write (a jti, a session, a user's or the global epoch, a retired key,
   * a lockdown) before it answers: `WAIT <n> <replicaAckTimeoutMs>` on the node that took the write. Redis replicates
   * asynchronously, so without it a revocation acknowledged just before its master dies can be lost in the failover.
   * `'auto'`: one replica when the node that took the write has a replica online (asked with `ROLE` after the write),
   * none otherwise, so a Redis without replicas never waits. A number: always that many. When fewer replicas answer in
   * time the revocation still succeeds (it is on the master) and a warning is logged. Default `'auto'`; `'auto'` or 0 to 5
   * (0: off, neither ROLE nor WAIT is sent).
   */
  @IsIn(['auto', 0, 1, 2, 3, 4, 5]) replicaAcks: ReplicaAcks = 'auto';
  /**
   * The longest a revocation write waits for `replicaAcks`, in ms; must be below `commandTimeoutMs`. Default 200, or
   * half of `commandTimeoutMs` when that is lower; 1 to 10000.
   */
  @IsOptional() @IsInt() @Min(1) @Max(10_000) replicaAckTimeoutMs?: number;
}

/** Your own implementation of every store port. */
@OptionsCheck<CustomStoreOptions>((options, path) => {
  const store = options.store as unknown as Record<string, unknown> | null;
  const missing = DEFENSE_STORE_METHODS.filter((name) => typeof store?.[name] !== 'function');
  if (missing.length > 0) throw optionsError(`${path}.store`, `must implement DefenseStore: missing ${missing.join(', ')}`);
})
export class CustomStoreOptions {
  declare readonly [REQUIRED]?: { type: true; store: true };
  /** `custom`: your own `DefenseStore`. */
  @Equals('custom') type!: 'custom';
  /** The store: every method of every port (see `DefenseStore`). Required. */
  @IsDefined() store!: DefenseStore;
}

export type StoreOptions = MemoryStoreOptions | RedisStoreOptions | CustomStoreOptions;
