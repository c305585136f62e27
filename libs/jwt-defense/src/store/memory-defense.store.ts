import type { SecurityEvent, SecurityEventQuery } from '../events/security-event.js';
import type {
  CleanupReport,
  DefenseCheckRequest,
  DefenseCheckResult,
  DefenseStore,
  GlobalDefenseState,
  RefreshSessionRecord,
  RevocationRecord,
  RotateOutcome,
} from './defense-store.interface.js';
import { hitRateLimit, type RateLimitState } from '../throttling/rate-limit.js';

export interface MemoryDefenseStoreOptions {
  /** Most entries (revocations, user epochs, sessions) kept; the oldest go first beyond it. Default 100000. */
  maxEntries?: number;
  /** Most security events kept (ring buffer). Default 10000. */
  maxEvents?: number;
  /** Time source, epoch ms. Default `Date.now`. */
  now?: () => number;
}

interface Entry<T> {
  value: T;
  expiresAtMs: number;
}

/** Entries looked at for expiry on each write: amortised cleanup without a timer per entry. */
const SWEEP_PER_WRITE = 8;

/**
 * The embedded store: one process, bounded, expiry by timestamp checked on read plus a small sweep on each
 * write and the scheduled cleanup. No timer per entry.
 */
export class MemoryDefenseStore implements DefenseStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry<unknown>>();
  private readonly events: SecurityEvent[] = [];
  private eventHead = 0;
  private readonly global: GlobalDefenseState = { notBeforeMs: 0, retiredKids: {} };
  private readonly maxEntries: number;
  private readonly maxEvents: number;
  private readonly now: () => number;

  constructor(options: MemoryDefenseStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxEvents = options.maxEvents ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async check(request: DefenseCheckRequest): Promise<DefenseCheckResult> {
    const session = request.sid ? this.read<RefreshSessionRecord>(`s:${request.tag}:${request.sid}`) : undefined;
    const result: DefenseCheckResult = {
      jtiRevoked: this.read(`j:${request.tag}:${request.jti}`) !== undefined,
      sessionRevoked: session?.revokedReason !== undefined,
      userNotBeforeMs: this.read<number>(`n:${request.tag}:${request.sub}`) ?? 0,
    };
    const rate = request.userRate;
    if (rate) {
      const key = `r:${request.tag}:${request.sub}`;
      const { state, result: hit } = hitRateLimit(this.read<RateLimitState>(key), rate.nowMs, rate.limit, rate.ttlMs, rate.blockDurationMs, rate.algorithm);
      const keepMs = Math.max(rate.algorithm === 'fixed' ? state.window - rate.nowMs : 2 * rate.ttlMs, state.blockedUntilMs - rate.nowMs);
      this.write(key, state, keepMs);
      result.userRate = hit;
    }
    return result;
  }

  async revokeToken(tag: string, record: RevocationRecord, ttlMs: number): Promise<boolean> {
    const key = `j:${tag}:${record.jti}`;
    if (this.read(key) !== undefined) return false;
    this.write(key, { ...record }, ttlMs);
    return true;
  }

  async getRevocation(tag: string, jti: string): Promise<RevocationRecord | undefined> {
    const record = this.read<RevocationRecord>(`j:${tag}:${jti}`);
    return record && { ...record };
  }

  async raiseUserNotBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number> {
    const key = `n:${tag}:${sub}`;
    const epoch = Math.max(this.read<number>(key) ?? 0, atMs);
    this.write(key, epoch, ttlMs);
    return epoch;
  }

  async readGlobalState(): Promise<GlobalDefenseState> {
    return { notBeforeMs: this.global.notBeforeMs, retiredKids: { ...this.global.retiredKids } };
  }

  async raiseGlobalNotBefore(atMs: number): Promise<number> {
    this.global.notBeforeMs = Math.max(this.global.notBeforeMs, atMs);
    return this.global.notBeforeMs;
  }

  async retireKid(kid: string, atMs: number): Promise<void> {
    this.global.retiredKids[kid] ??= atMs;
  }

  async createSession(session: RefreshSessionRecord): Promise<void> {
    this.write(`s:${session.tag}:${session.sid}`, { ...session }, session.expiresAtMs - this.now());
  }

  async getSession(tag: string, sid: string): Promise<RefreshSessionRecord | undefined> {
    const session = this.read<RefreshSessionRecord>(`s:${tag}:${sid}`);
    return session && { ...session };
  }

  async rotateSession(tag: string, sid: string, sub: string, generation: number): Promise<RotateOutcome> {
    const session = this.read<RefreshSessionRecord>(`s:${tag}:${sid}`);
    if (!session) return 'missing';
    if (session.revokedReason !== undefined) return 'revoked';
    if (session.sub !== sub) return 'missing';
    if (session.createdAtMs <= (this.read<number>(`n:${tag}:${sub}`) ?? 0)) return 'revoked';
    if (generation === session.generation) {
      session.generation += 1;
      return 'rotated';
    }
    if (generation < session.generation) {
      session.revokedReason = 'refresh_token_reuse';
      return 'reuse';
    }
    return 'missing';
  }

  async revokeSession(tag: string, sid: string, reason: string): Promise<boolean> {
    const session = this.read<RefreshSessionRecord>(`s:${tag}:${sid}`);
    if (!session) return false;
    session.revokedReason ??= reason;
    return true;
  }

  async appendEvent(event: SecurityEvent): Promise<void> {
    if (this.events.length < this.maxEvents) {
      this.events.push(event);
    } else {
      this.events[this.eventHead] = event;
      this.eventHead = (this.eventHead + 1) % this.maxEvents;
    }
  }

  async listEvents(query: SecurityEventQuery): Promise<SecurityEvent[]> {
    const found: SecurityEvent[] = [];
    const count = this.events.length;
    for (let i = 1; i <= count && found.length < query.limit; i++) {
      const event = this.events[(this.eventHead - i + count) % count];
      if ((query.type === undefined || event.type === query.type) && (query.sub === undefined || event.sub === query.sub)) {
        found.push(event);
      }
    }
    return found;
  }

  async cleanupExpired(budgetMs: number): Promise<CleanupReport> {
    const started = this.now();
    let scanned = 0;
    let removed = 0;
    for (const [key, entry] of this.entries) {
      scanned++;
      if (entry.expiresAtMs <= started) {
        this.entries.delete(key);
        removed++;
      }
      if (scanned % 1024 === 0 && Date.now() - started > budgetMs) return { scanned, removed, truncated: true };
    }
    return { scanned, removed, truncated: false };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.entries.clear();
  }

  /** Number of live entries (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private read<T>(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value as T;
  }

  private write(key: string, value: unknown, ttlMs: number): void {
    const now = this.now();
    this.entries.delete(key); // re-insert at the end: Map order is our eviction order
    this.entries.set(key, { value, expiresAtMs: now + Math.max(1, ttlMs) });
    let looked = 0;
    for (const [oldKey, entry] of this.entries) {
      if (looked++ >= SWEEP_PER_WRITE) break;
      if (entry.expiresAtMs <= now) this.entries.delete(oldKey);
    }
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
  }
}
