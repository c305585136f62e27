import { Logger } from '@nestjs/common';
import { Cluster, type Redis } from 'ioredis';
import type { SecurityEvent, SecurityEventQuery, SecurityEventType } from '../../events/security-event.js';
import type { RateLimitResult } from '../../throttling/rate-limit.js';
import type {
  CleanupReport,
  DeclaredIssuers,
  DefenseStore,
  GlobalDefenseState,
  KeyRingLimits,
  KeyRotationOutcome,
  LockdownMode,
  LockdownState,
  RateLimitHit,
  RefreshSessionRecord,
  RevocationRecord,
  RiskLearning,
  RotateConditions,
  RotateOutcome,
  SessionLimits,
  StoredSigningKey,
} from '../defense-store.ports.js';
import { LOCKDOWN_MODES } from '../defense-store.ports.js';
import { DefenseStoreError } from '../defense-store.errors.js';
import { decimal, integer } from '../reply.js';
import type { ReplicaAcks } from '../store.options.js';
import { closeRedis, openRedis, waitForRedis, type OpenedRedis, type RedisConnection } from './redis-connection.js';
import { RedisCommands } from './redis-commands.js';
import { counterKeyOf, RedisRateLimiter } from './redis-rate-limiter.js';
import { BUILT_IN_CHECK_PARTS } from '../../pipeline/check-parts.js';
import { checkScope, type AnyCheckPart, type DefenseCheckRequest, type DefenseCheckResult } from '../check-part.js';
import { checkArguments, composeCheckScript, parseCheckReply } from './check-script.js';
import * as scripts from './redis-scripts.js';

export interface RedisDefenseStoreOptions {
  connection: RedisConnection;
  /**
   * Log a connection we open when it cannot reach Redis (once per outage, as a `JwtDefense` warning naming host:port
   * and the error's code, never a credential) and when it answers again. Default `false`; the module's store logs.
   */
  logConnection?: boolean;
  /** Prefix of every key; must not contain `{` or `}`. Default `jwtd:`. */
  keyPrefix?: string;
  /**
   * Upper bound of one command, in ms, for connections we open. A dead Redis fails a request within it
   * (then the fail mode applies) instead of stalling it. Default 500.
   */
  commandTimeoutMs?: number;
  /** Approximate length cap of the security event stream (`XADD MAXLEN ~`). Default 10000. */
  maxEvents?: number;
  /**
   * Replicas that must acknowledge a revocation write (`WAIT`, on the node that took it) before it answers: `'auto'`
   * for one when that node has a replica online (none otherwise), or a number. Fewer in time: the write still
   * succeeds and a warning is logged. Default `'auto'`.
   */
  replicaAcks?: ReplicaAcks;
  /** The longest a revocation write waits for `replicaAcks`, in ms; below `commandTimeoutMs`. Default 200, or half of `commandTimeoutMs` when lower. */
  replicaAckTimeoutMs?: number;
  /** The parts of the per-request call (store/check-part.ts). Default: the layers' own. @internal */
  checkParts?: readonly AnyCheckPart[];
}

const RESULTS: ReadonlySet<string> = new Set(['rotated', 'replayed', 'reuse', 'revoked', 'missing', 'proof_replayed']);

type Scripted = {
  jwtdCheck(...args: Array<string | number>): Promise<unknown>;
  jwtdLearnContext(...args: Array<string | number>): Promise<unknown>;
  jwtdRecordChallenge(c: string, atMs: number, ttlMs: number, contextKey: string): Promise<unknown>;
  jwtdRevokeToken(j: string, ttlMs: number, reason: string, at: number, actor: string, sub: string): Promise<unknown>;
  jwtdRaiseUserNotBefore(n: string, atMs: number, ttlMs: number): Promise<unknown>;
  jwtdRaiseGlobalNotBefore(g: string, atMs: number): Promise<unknown>;
  jwtdCreateSession(s: string, sub: string, key: string, created: number, exp: number, claims: string): Promise<unknown>;
  jwtdIndexSession(ss: string, sid: string, exp: number, nowMs: number, max: number): Promise<unknown>;
  jwtdRotateSession(s: string, n: string, ss: string, dp: string, generation: number, globalNb: number, nowMs: number, graceMs: number, sid: string, retainMs: number, proofTtlMs: number): Promise<unknown>;
  jwtdRevokeSession(s: string, reason: string, retainMs: number): Promise<unknown>;
  jwtdRecordProof(dp: string, ttlMs: number): Promise<unknown>;
  jwtdRetireKid(g: string, k: string, kid: string, atMs: number, signingKid: string): Promise<unknown>;
  jwtdLockKeyRotation(lock: string, flight: string, ttlMs: number): Promise<unknown>;
  jwtdCommitKeyRotation(...args: Array<string | number>): Promise<unknown>;
  jwtdKeyRotationOutcome(lock: string, outcome: string, flight: string): Promise<unknown>;
  jwtdSetLockdown(g: string, mode: string, sinceMs: number, reason: string, actor: string): Promise<unknown>;
  jwtdTime(g: string): Promise<unknown>;
};

/**
 * Shared state on Redis, standalone or Cluster. One Lua script per operation (EVALSHA via `defineCommand`);
 * every per-user key carries the hash tag `{u:<tag>}`, so the per-request check is one round trip on one slot.
 */
export class RedisDefenseStore implements DefenseStore {
  readonly kind = 'redis' as const;
  private readonly checkParts: readonly AnyCheckPart[];
  /** The parts of the one script: all of them, but on Cluster those whose keys sit in their own slot. */
  private readonly together: readonly AnyCheckPart[];
  /** On Cluster, each part whose keys sit in their own slot (the per-IP counter), its own script, sent in parallel. */
  private readonly apart: ReadonlyArray<{ part: AnyCheckPart; command: string }>;
  readonly client: Redis | Cluster;
  private readonly owned: boolean;
  private readonly connection: OpenedRedis;
  private readonly commands: RedisCommands;
  private readonly rateLimiter: RedisRateLimiter;
  /** Prefix of every key. */
  readonly prefix: string;
  private readonly maxEvents: number;
  private readonly globalKey: string;
  private readonly eventsKey: string;
  private readonly keysKey: string;
  private readonly keyStopsKey: string;
  private readonly rotationLockKey: string;
  private readonly replicaAcks: ReplicaAcks;
  private readonly replicaAckTimeoutMs: number;
  private readonly logger = new Logger('JwtDefense');
  private unreplicated = 0;

  constructor(options: RedisDefenseStoreOptions) {
    this.prefix = options.keyPrefix ?? 'jwtd:';
    if (/[{}]/.test(this.prefix)) {
      throw new TypeError('jwt-defense: store.keyPrefix must not contain { or }: they would change the Cluster hash slot');
    }
    this.maxEvents = options.maxEvents ?? 10_000;
    this.replicaAcks = options.replicaAcks ?? 'auto';
    // A WAIT the command timeout cut would look like a hung Redis (and make every command fail fast): stay below it.
    this.replicaAckTimeoutMs = options.replicaAckTimeoutMs ?? Math.max(1, Math.min(200, Math.floor((options.commandTimeoutMs ?? 500) / 2)));
    this.globalKey = `${this.prefix}{g}:global`;
    this.eventsKey = `${this.prefix}{e}:events`;
    this.keysKey = `${this.prefix}{g}:keys`;
    this.keyStopsKey = `${this.prefix}{g}:keys:stopped`;
    this.rotationLockKey = `${this.prefix}{g}:rotation`;
    this.connection = openRedis(options.connection, options.commandTimeoutMs, options.logConnection);
    ({ client: this.client, owned: this.owned } = this.connection);
    this.commands = new RedisCommands(this.client, options.commandTimeoutMs ?? 500);
    this.rateLimiter = new RedisRateLimiter(this.client, this.prefix);
    const define = (name: keyof Scripted, numberOfKeys: number, lua: string) =>
      this.client.defineCommand(name, { numberOfKeys, lua });
    this.checkParts = options.checkParts ?? BUILT_IN_CHECK_PARTS;
    const cluster = this.client instanceof Cluster;
    this.together = cluster ? this.checkParts.filter((part) => !part.ownSlot) : this.checkParts;
    this.apart = cluster ? this.checkParts.filter((part) => part.ownSlot).map((part, i) => ({ part, command: `jwtdCheckApart${i}` })) : [];
    const check = composeCheckScript(this.together);
    define('jwtdCheck', check.numberOfKeys, check.lua);
    for (const { part, command } of this.apart) {
      const own = composeCheckScript([part]);
      this.client.defineCommand(command, { numberOfKeys: own.numberOfKeys, lua: own.lua });
    }
    define('jwtdLearnContext', 1, scripts.LEARN_CONTEXT);
    define('jwtdRecordChallenge', 1, scripts.RECORD_CHALLENGE);
    define('jwtdRevokeToken', 1, scripts.REVOKE_TOKEN);
    define('jwtdRaiseUserNotBefore', 1, scripts.RAISE_USER_NOT_BEFORE);
    define('jwtdRaiseGlobalNotBefore', 1, scripts.RAISE_GLOBAL_NOT_BEFORE);
    define('jwtdCreateSession', 1, scripts.CREATE_SESSION);
    define('jwtdIndexSession', 1, scripts.INDEX_SESSION);
    define('jwtdRotateSession', 4, scripts.ROTATE_SESSION);
    define('jwtdRevokeSession', 1, scripts.REVOKE_SESSION);
    define('jwtdRecordProof', 1, scripts.RECORD_PROOF);
    define('jwtdRetireKid', 2, scripts.RETIRE_KID);
    define('jwtdLockKeyRotation', 1, scripts.LOCK_KEY_ROTATION);
    define('jwtdCommitKeyRotation', 5, scripts.COMMIT_KEY_ROTATION);
    define('jwtdKeyRotationOutcome', 2, scripts.KEY_ROTATION_OUTCOME);
    define('jwtdSetLockdown', 1, scripts.SET_LOCKDOWN);
    define('jwtdTime', 1, scripts.TIME);
  }

  /** Revocation writes (since start) that fewer than `replicaAcks` replicas acknowledged in time (each also logged). */
  get unreplicatedWrites(): number {
    return this.unreplicated;
  }

  /** Resolves once connected (or rejects after `timeoutMs`): commands fail fast while disconnected. */
  async ready(timeoutMs = 5000): Promise<void> {
    try {
      await waitForRedis(this.client, timeoutMs, this.connection);
    } catch (error) {
      throw new DefenseStoreError((error as Error).message, { cause: error });
    }
  }

  /**
   * The ONE per-request call: the script composed from the layers' parts (store/check-part.ts), one EVALSHA. On
   * Cluster, a part asked for whose keys sit in their own slot (the per-IP counter) goes as its own script, sent with
   * it: one wait.
   */
  async check(request: DefenseCheckRequest): Promise<DefenseCheckResult> {
    const scope = checkScope(request, Date.now());
    const key = (kind: string, id: string) => this.userKey(request.tag, kind, id);
    const counterKey = (space: string, id: string) => counterKeyOf(this.prefix, space, id);
    const together = this.run(() => this.scripted.jwtdCheck(...checkArguments(this.together, request, scope, key, counterKey)));
    const asked = this.apart.filter(({ part }) => request.parts[part.name] !== undefined);
    if (asked.length === 0) return parseCheckReply(this.together, request, await together);
    const [reply, ...replies] = await Promise.all([
      together,
      ...asked.map(({ part, command }) => this.run(() => (this.client as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>)[command](...checkArguments([part], request, scope, key, counterKey)))),
    ]);
    const result = parseCheckReply(this.together, request, reply);
    asked.forEach(({ part }, i) => Object.assign(result, parseCheckReply([part], request, replies[i])));
    return result;
  }

  async learnContext(tag: string, sub: string, learning: RiskLearning): Promise<void> {
    await this.run(() =>
      this.scripted.jwtdLearnContext(
        this.userKey(tag, 'c', sub),
        Math.floor(learning.nowMs),
        learning.country ?? '',
        learning.device,
        learning.hourOfWeek,
        learning.countHour ? '1' : '0',
        learning.maxDevices,
        learning.maxCountries,
        Math.floor(learning.halfLifeMs),
        Math.floor(learning.ttlMs),
        learning.login?.contextKey ?? '',
      ),
    );
  }

  async recordChallenge(tag: string, sub: string, atMs: number, ttlMs: number, contextKey: string): Promise<void> {
    await this.run(() => this.scripted.jwtdRecordChallenge(this.userKey(tag, 'c', sub), Math.floor(atMs), Math.max(1, Math.ceil(ttlMs)), contextKey));
  }

  async raiseStepUpBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number> {
    const reply = await this.run(() =>
      this.scripted.jwtdRaiseUserNotBefore(this.userKey(tag, 'p', sub), Math.floor(atMs), Math.max(1, Math.ceil(ttlMs))),
    );
    return integer(reply, 'raiseStepUpBefore');
  }

  async hit(request: RateLimitHit): Promise<RateLimitResult> {
    return this.run(() => this.rateLimiter.hit(request));
  }

  async revokeToken(tag: string, record: RevocationRecord, ttlMs: number): Promise<boolean> {
    const key = this.userKey(tag, 'j', record.jti);
    const reply = await this.durable(key, () =>
      this.scripted.jwtdRevokeToken(
        key,
        Math.max(1, Math.ceil(ttlMs)),
        record.reason,
        record.revokedAtMs,
        record.actor ?? '',
        record.sub ?? '',
      ),
    );
    return integer(reply, 'revokeToken') === 1;
  }

  async getRevocation(tag: string, jti: string): Promise<RevocationRecord | undefined> {
    const hash = await this.run(() => this.client.hgetall(this.userKey(tag, 'j', jti)));
    if (!hash || typeof hash !== 'object' || hash.reason === undefined) return undefined;
    return {
      jti,
      reason: hash.reason,
      revokedAtMs: integer(hash.at, 'getRevocation'),
      actor: hash.actor || undefined,
      sub: hash.sub || undefined,
    };
  }

  async raiseUserNotBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number> {
    const key = this.userKey(tag, 'n', sub);
    const reply = await this.durable(key, () => this.scripted.jwtdRaiseUserNotBefore(key, Math.floor(atMs), Math.max(1, Math.ceil(ttlMs))));
    return integer(reply, 'raiseUserNotBefore');
  }

  async readGlobalState(): Promise<GlobalDefenseState> {
    const hash = await this.run(() => this.client.hgetall(this.globalKey));
    const state: GlobalDefenseState = { notBeforeMs: 0, retiredKids: {} };
    const fields = hash ?? {};
    for (const [field, value] of Object.entries(fields)) {
      if (field === 'nb') state.notBeforeMs = integer(value, 'readGlobalState');
      else if (field.startsWith('kid:')) state.retiredKids[field.slice(4)] = integer(value, 'readGlobalState');
    }
    if (fields.sk) state.signingKid = fields.sk;
    if (fields.osk) state.declaredSigningKid = fields.osk;
    const declaredIssuers = fields.iss ? declaredIssuersOf(fields.iss) : undefined;
    if (declaredIssuers) state.declaredIssuers = declaredIssuers;
    if (fields.kv) state.keysVersion = integer(fields.kv, 'readGlobalState');
    if (fields.lm && (LOCKDOWN_MODES as readonly string[]).includes(fields.lm)) {
      state.lockdown = {
        mode: fields.lm as LockdownMode,
        sinceMs: integer(fields.ls, 'readGlobalState'),
        ...(fields.lr ? { reason: fields.lr } : {}),
        ...(fields.la ? { actor: fields.la } : {}),
      };
    }
    return state;
  }

  async raiseGlobalNotBefore(atMs: number): Promise<number> {
    const reply = await this.durable(this.globalKey, () => this.scripted.jwtdRaiseGlobalNotBefore(this.globalKey, Math.floor(atMs)));
    return integer(reply, 'raiseGlobalNotBefore');
  }

  async retireKid(kid: string, atMs: number, signingKid?: string): Promise<boolean> {
    const reply = await this.durable(this.globalKey, () => this.scripted.jwtdRetireKid(this.globalKey, this.keysKey, kid, Math.floor(atMs), signingKid ?? ''));
    return integer(reply, 'retireKid') === 1;
  }

  async declareSigningKid(kid: string): Promise<void> {
    await this.run(() => this.client.hset(this.globalKey, 'osk', kid));
  }

  async declareIssuers(issuers: DeclaredIssuers): Promise<void> {
    const declared: DeclaredIssuers = { ...(issuers.own === undefined ? {} : { own: issuers.own }), external: [...issuers.external] };
    await this.run(() => this.client.hset(this.globalKey, 'iss', JSON.stringify(declared)));
  }

  async setLockdown(state: LockdownState): Promise<void> {
    await this.durable(this.globalKey, () => this.scripted.jwtdSetLockdown(this.globalKey, state.mode, Math.floor(state.sinceMs), state.reason ?? '', state.actor ?? ''));
  }

  /** Redis `TIME` of the node that holds the global state (one clock for every instance), epoch ms. */
  async timeMs(): Promise<number> {
    const reply = await this.run(() => this.scripted.jwtdTime(this.globalKey));
    if (!Array.isArray(reply) || reply.length !== 2) throw new DefenseStoreError('unexpected Redis reply for time');
    return integer(reply[0], 'time') * 1000 + Math.floor(integer(reply[1], 'time') / 1000);
  }

  async lockKeyRotation(flight: string, ttlMs: number): Promise<string | undefined> {
    const reply = await this.run(() => this.scripted.jwtdLockKeyRotation(this.rotationLockKey, flight, Math.max(1, Math.ceil(ttlMs))));
    if (typeof reply !== 'string') throw new DefenseStoreError('unexpected Redis reply for lockKeyRotation');
    return reply === '' || reply === flight ? undefined : reply;
  }

  async commitKeyRotation(flight: string, key: StoredSigningKey, previousKid: string | undefined, limits: KeyRingLimits, outcomeTtlMs: number): Promise<KeyRotationOutcome> {
    const reply = await this.run(() =>
      this.scripted.jwtdCommitKeyRotation(
        this.globalKey,
        this.keysKey,
        this.keyStopsKey,
        this.rotationLockKey,
        this.rotationOutcomeKey(flight),
        flight,
        key.kid,
        JSON.stringify(key),
        previousKid ?? '',
        limits.maxKeys,
        Math.max(0, Math.ceil(limits.retireAfterMs)),
        key.algorithms[0],
        Math.max(1, Math.ceil(outcomeTtlMs)),
      ),
    );
    return rotationOutcome(reply, 'commitKeyRotation');
  }

  async keyRotationOutcome(flight: string): Promise<KeyRotationOutcome | 'pending' | undefined> {
    const reply = await this.run(() => this.scripted.jwtdKeyRotationOutcome(this.rotationLockKey, this.rotationOutcomeKey(flight), flight));
    if (reply === null) return undefined;
    if (reply === 'pending') return 'pending';
    return rotationOutcome(reply, 'keyRotationOutcome');
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    const hash = await this.run(() => this.client.hgetall(this.keysKey));
    const keys: StoredSigningKey[] = [];
    for (const value of Object.values(hash ?? {})) {
      try {
        const key = JSON.parse(value) as StoredSigningKey;
        if (typeof key.kid === 'string' && typeof key.sealed === 'string' && Array.isArray(key.algorithms)) keys.push(key);
      } catch {
        // Not ours: skipped (an instance only trusts keys it can unseal anyway).
      }
    }
    return keys.sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  async createSession(session: RefreshSessionRecord, limits?: SessionLimits): Promise<string[]> {
    await this.run(() =>
      this.scripted.jwtdCreateSession(this.userKey(session.tag, 's', session.sid), session.sub, session.key, session.createdAtMs, session.expiresAtMs, session.claims),
    );
    if (!limits) return [];
    // The user's live sessions: their own one-key command (a login's writes each follow ASK during a slot migration).
    const over = await this.run(() =>
      this.scripted.jwtdIndexSession(this.userKey(session.tag, 'ss', ''), session.sid, session.expiresAtMs, Math.floor(session.createdAtMs), limits.maxPerUser),
    );
    if (!Array.isArray(over) || over.some((sid) => typeof sid !== 'string')) throw new DefenseStoreError('unexpected Redis reply for createSession');
    // Beyond the user's cap: the oldest are revoked (they already left the live set, in the same step as the new one came in).
    for (const sid of over as string[]) await this.revokeSession(session.tag, sid, 'session_limit', limits.revokedRetainMs);
    return over as string[];
  }

  async recordProof(tag: string, key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.run(() => this.scripted.jwtdRecordProof(this.userKey(tag, 'dp', key), Math.max(1, Math.ceil(ttlMs))));
    return integer(reply, 'recordProof') === 1;
  }

  async getSession(tag: string, sid: string): Promise<RefreshSessionRecord | undefined> {
    const hash = await this.run(() => this.client.hgetall(this.userKey(tag, 's', sid)));
    if (!hash || typeof hash !== 'object' || hash.key === undefined) return undefined;
    return {
      sid,
      tag,
      sub: hash.sub,
      key: hash.key,
      generation: integer(hash.gen, 'getSession'),
      createdAtMs: integer(hash.created, 'getSession'),
      expiresAtMs: integer(hash.exp, 'getSession'),
      claims: hash.claims ?? '{}',
      revokedReason: hash.revoked,
    };
  }

  async rotateSession(tag: string, sid: string, sub: string, generation: number, conditions: RotateConditions): Promise<RotateOutcome> {
    const reply = await this.run(() =>
      this.scripted.jwtdRotateSession(
        this.userKey(tag, 's', sid),
        this.userKey(tag, 'n', sub),
        this.userKey(tag, 'ss', ''),
        this.userKey(tag, 'dp', conditions.dpopProof?.key ?? ''),
        generation,
        Math.floor(conditions.globalNotBeforeMs),
        Math.floor(conditions.nowMs),
        Math.floor(conditions.reuseGraceMs),
        sid,
        Math.max(0, Math.ceil(conditions.revokedRetainMs ?? 0)),
        conditions.dpopProof ? Math.max(1, Math.ceil(conditions.dpopProof.ttlMs)) : 0,
      ),
    );
    if (typeof reply !== 'string' || !RESULTS.has(reply)) throw new DefenseStoreError('unexpected Redis reply for rotateSession');
    // Reuse revoked the session (the whole family) in that step: a revocation, waited on like the others.
    if (reply === 'reuse') await this.replicated(this.userKey(tag, 's', sid));
    return reply as RotateOutcome;
  }

  async revokeSession(tag: string, sid: string, reason: string, retainMs?: number): Promise<boolean> {
    const key = this.userKey(tag, 's', sid);
    const reply = await this.durable(key, () => this.scripted.jwtdRevokeSession(key, reason, Math.max(0, Math.ceil(retainMs ?? 0))));
    // It no longer counts as live (a one-key command of its own, after the revocation itself is stored).
    await this.run(() => this.client.zrem(this.userKey(tag, 'ss', ''), sid));
    return integer(reply, 'revokeSession') === 1;
  }

  async appendEvent(event: SecurityEvent): Promise<void> {
    await this.run(() => this.client.xadd(this.eventsKey, 'MAXLEN', '~', String(this.maxEvents), '*', 'e', JSON.stringify(event)));
  }

  async listEvents(query: SecurityEventQuery): Promise<SecurityEvent[]> {
    const found: SecurityEvent[] = [];
    let end = '+';
    const page = 500;
    // Bounded by the stream's MAXLEN: filtering walks at most the whole (capped) log, newest first.
    for (;;) {
      const entries = (await this.run(() => this.client.xrevrange(this.eventsKey, end, '-', 'COUNT', page))) as Array<[string, string[]]>;
      if (!Array.isArray(entries)) throw new DefenseStoreError('unexpected Redis reply for listEvents');
      for (const [, fields] of entries) {
        const event = this.parseEvent(fields);
        if (!event) continue;
        // Newest first: the first event older than `sinceMs` ends the walk.
        if (query.sinceMs !== undefined && Date.parse(event.at) < query.sinceMs) return found;
        if ((query.type === undefined || event.type === query.type) && (query.sub === undefined || event.sub === query.sub)) {
          found.push(event);
          if (found.length >= query.limit) return found;
        }
      }
      if (entries.length < page) return found;
      end = `(${entries[entries.length - 1][0]}`;
    }
  }

  /**
   * Walks our keys with SCAN (never KEYS) on every master, COUNT 200 a step, within `budgetMs`. Everything
   * we write has a TTL, so this only repairs per-user entries that somehow lost theirs.
   */
  async cleanupExpired(budgetMs: number): Promise<CleanupReport> {
    const started = Date.now();
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    let scanned = 0;
    let removed = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.run(() => node.scan(cursor, 'MATCH', `${this.prefix}{u:*`, 'COUNT', 200));
        cursor = next;
        for (const key of keys) {
          scanned++;
          if ((await this.run(() => node.pttl(key))) === -1) {
            await this.run(() => node.del(key));
            removed++;
          }
        }
        if (Date.now() - started > budgetMs) return { scanned, removed, truncated: cursor !== '0' || node !== nodes[nodes.length - 1] };
      } while (cursor !== '0');
    }
    return { scanned, removed, truncated: false };
  }

  /** Rejects with a `DefenseStoreError` naming where Redis is expected and, when seen, why it cannot be reached. */
  async ping(): Promise<void> {
    try {
      await this.run(() => this.client.ping());
    } catch (error) {
      const last = this.connection.lastError();
      throw new DefenseStoreError(`Redis at ${this.connection.endpoint} does not answer${last ? ` (${last})` : ''}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await closeRedis(this.client, this.owned);
  }

  private get scripted(): Scripted {
    return this.client as unknown as Scripted;
  }

  private rotationOutcomeKey(flight: string): string {
    return `${this.rotationLockKey}:${flight}`;
  }

  private userKey(tag: string, kind: string, id: string): string {
    return `${this.prefix}{u:${tag}}:${kind}:${id}`;
  }

  private parseEvent(fields: unknown): SecurityEvent | undefined {
    if (!Array.isArray(fields) || fields[0] !== 'e' || typeof fields[1] !== 'string') return undefined;
    try {
      const event = JSON.parse(fields[1]) as SecurityEvent & { type: SecurityEventType };
      return typeof event.id === 'string' && typeof event.type === 'string' ? event : undefined;
    } catch {
      return undefined;
    }
  }

  private run<T>(command: () => Promise<T>): Promise<T> {
    return this.commands.run(command);
  }

  /**
   * A revocation write, then (with `replicaAcks`) `WAIT` on the node that took it: WAIT counts the replicas that
   * have every earlier write of this connection. With `'auto'`, that node's `ROLE` first says whether it has a
   * replica online: a Redis without replicas never waits (WAIT would sit out its whole timeout). Fewer replicas in
   * time, or a check that fails (an ACL without `+role`, a timeout): the write stands (it is on the master), logged
   * and counted as not replicated, never a failed revocation.
   */
  private async durable<T>(key: string, write: () => Promise<T>): Promise<T> {
    const result = await this.run(write);
    await this.replicated(key);
    return result;
  }

  /** The replica wait of `durable`, after a write to `key` made on this store's connections. Never throws. */
  private async replicated(key: string): Promise<void> {
    if (this.replicaAcks === 0) return;
    try {
      const [role, onHolder] = await this.run(() => this.holderOf(key));
      const wanted = this.replicaAcks === 'auto' ? Math.min(1, replicasOnline(role)) : this.replicaAcks;
      if (wanted === 0) return;
      const acknowledged = integer(await this.run(() => onHolder('wait', wanted, this.replicaAckTimeoutMs)), 'wait');
      if (acknowledged < wanted) this.notReplicated(`acknowledged by ${acknowledged} of ${wanted} replica(s) within ${this.replicaAckTimeoutMs} ms`);
    } catch (error) {
      const reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      this.notReplicated(`not checked for replicas (${reason}): give the Redis user +role and +wait, or set store.replicaAcks to 0`);
    }
  }

  private notReplicated(why: string): void {
    this.unreplicated++;
    this.logger.warn(`a revocation write was ${why}: it is on the master, but a failover now could lose it`);
  }

  /**
   * The ROLE of the node that holds `key` (only asked with `'auto'` on a standalone Redis), and a way to run a keyless
   * command there. On a Cluster a keyless command would go to any node, so it rides in a pipeline behind a read of
   * the key, which routes it to the key's node. When that read is redirected (a slot being migrated, where the write
   * followed ASK to the target; or a slot map out of date), ioredis does not send again a pipeline holding a command
   * that is not read-only, so the command ran elsewhere: ROLE (harmless anywhere) finds that out, and from then on
   * the node the redirection names is used directly, on the connection the write itself used.
   */
  private async holderOf(key: string): Promise<[role: unknown, call: (command: string, ...args: Array<string | number>) => Promise<unknown>]> {
    const client = this.client;
    if (!(client instanceof Cluster)) {
      return [this.replicaAcks === 'auto' ? await client.call('role') : undefined, (command, ...args) => client.call(command, ...args)];
    }
    const behindKey = async (command: string, ...args: Array<string | number>): Promise<[redirectedTo: string | undefined, reply: unknown]> => {
      const replies = await client.pipeline().exists(key).call(command, ...args).exec();
      const redirectedTo = /^(?:MOVED|ASK) \d+ (\S+)$/.exec((replies?.[0]?.[0] as Error | null | undefined)?.message ?? '')?.[1];
      if (redirectedTo) return [redirectedTo, undefined];
      const [error, reply] = replies?.[1] ?? [new DefenseStoreError(`no reply to ${command.toUpperCase()}`)];
      if (error) throw error;
      return [undefined, reply];
    };
    const nodeAt = (address: string) => {
      const node = client.nodes('master').find((candidate) => `${candidate.options.host}:${candidate.options.port}` === address);
      if (!node) throw new DefenseStoreError('no connection to the node that holds the key');
      return node;
    };
    const [redirectedTo, role] = await behindKey('role');
    if (redirectedTo) {
      const node = nodeAt(redirectedTo);
      return [await node.call('role'), (command, ...args) => node.call(command, ...args)];
    }
    return [
      role,
      // The map said where the key is a moment ago; should it change before this command, the command is sent again
      // where the redirection says (it also ran on the node it was sent to: for WAIT, at worst a wasted wait).
      async (command, ...args) => {
        const [movedTo, reply] = await behindKey(command, ...args);
        return movedTo ? nodeAt(movedTo).call(command, ...args) : reply;
      },
    ];
  }
}

/** A rotation's outcome from the field list COMMIT_KEY_ROTATION writes and answers (`[name, value, ...]`). */
function rotationOutcome(reply: unknown, what: string): KeyRotationOutcome {
  if (!Array.isArray(reply) || reply.length % 2 !== 0 || !reply.every((item) => typeof item === 'string')) {
    throw new DefenseStoreError(`unexpected Redis reply for ${what}`);
  }
  const fields: Record<string, string> = {};
  for (let i = 0; i < reply.length; i += 2) fields[reply[i]] = reply[i + 1];
  if (fields.state === 'full') return { rotated: false, reason: 'key_ring_full', retryAfterMs: integer(fields.retry, what) };
  if (fields.state !== 'rotated' || !fields.kid || !fields.alg) throw new DefenseStoreError(`unexpected Redis reply for ${what}`);
  return {
    rotated: true,
    kid: fields.kid,
    algorithm: fields.alg,
    ...(fields.prev ? { previousKid: fields.prev } : {}),
    retiredKids: fields.retired ? fields.retired.split(',') : [],
  };
}

/** Replicas online in a `ROLE` reply (`['master', offset, [[ip, port, offset], ...]]`); 0 for anything else. */
function replicasOnline(role: unknown): number {
  return Array.isArray(role) && role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0;
}

/**
 * The issuers declared in the global state (JSON `{ own?, external }`). Anything else (another version's shape, a stray
 * write) is read as no declaration: the rest of the state still applies, and the instances declare theirs again.
 */
function declaredIssuersOf(field: string): DeclaredIssuers | undefined {
  let value: unknown;
  try {
    value = JSON.parse(field);
  } catch {
    value = undefined;
  }
  const { own, external } = (value ?? {}) as { own?: unknown; external?: unknown };
  if (typeof value !== 'object' || (own !== undefined && typeof own !== 'string') || !Array.isArray(external) || !external.every((iss) => typeof iss === 'string')) {
    return undefined;
  }
  return { ...(own === undefined ? {} : { own }), external };
}
