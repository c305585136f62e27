import { Test } from '@nestjs/testing';
import { DefenseAuthenticator, JwtDefenseErrors, JwtDefenseModule, RevocationService, TokenService } from '@jwt-defense/core';
import {
  MemoryDefenseStore,
  runDefenseStoreContract,
  runMemoryCheck,
  type DefenseCheckRequest,
  type MemorySpaces,
  type DefenseStore,
  type RateLimitHit,
  type RefreshSessionRecord,
  type RevocationRecord,
  type RiskLearning,
  type RotateConditions,
  type SessionLimits,
  type StoredSigningKey,
  type KeyRingLimits,
  type LockdownState,
} from '@jwt-defense/core/store';
import type { SecurityEvent, SecurityEventQuery } from '@jwt-defense/core';
import { fixtureOptions } from './fixtures/fixture.app.js';

// What a store author writes, from the public entries only: a store of their own (here one that logs every call and
// answers it from a MemoryDefenseStore, the per-request `check` included, as the /store entry says; and one that answers
// `check` itself, with the parts' memory twins), the contract suite run on each in their own Jest, and the module
// running on them.

class LoggingStore implements DefenseStore {
  readonly kind = 'logging';
  readonly calls: string[] = [];
  protected readonly inner = new MemoryDefenseStore();

  protected log<T>(method: string, call: () => T): T {
    this.calls.push(method);
    return call();
  }

  check = (request: DefenseCheckRequest) => this.log('check', () => this.inner.check(request));
  recordProof = (tag: string, key: string, ttlMs: number) => this.log('recordProof', () => this.inner.recordProof(tag, key, ttlMs));
  hit = (request: RateLimitHit) => this.log('hit', () => this.inner.hit(request));
  revokeToken = (tag: string, record: RevocationRecord, ttlMs: number) => this.log('revokeToken', () => this.inner.revokeToken(tag, record, ttlMs));
  getRevocation = (tag: string, jti: string) => this.log('getRevocation', () => this.inner.getRevocation(tag, jti));
  raiseUserNotBefore = (tag: string, sub: string, atMs: number, ttlMs: number) => this.log('raiseUserNotBefore', () => this.inner.raiseUserNotBefore(tag, sub, atMs, ttlMs));
  readGlobalState = () => this.log('readGlobalState', () => this.inner.readGlobalState());
  raiseGlobalNotBefore = (atMs: number) => this.log('raiseGlobalNotBefore', () => this.inner.raiseGlobalNotBefore(atMs));
  retireKid = (kid: string, atMs: number, signingKid?: string) => this.log('retireKid', () => this.inner.retireKid(kid, atMs, signingKid));
  declareSigningKid = (kid: string) => this.log('declareSigningKid', () => this.inner.declareSigningKid(kid));
  setLockdown = (state: LockdownState) => this.log('setLockdown', () => this.inner.setLockdown(state));
  lockKeyRotation = (flight: string, ttlMs: number) => this.log('lockKeyRotation', () => this.inner.lockKeyRotation(flight, ttlMs));
  commitKeyRotation = (flight: string, key: StoredSigningKey, previousKid: string | undefined, limits: KeyRingLimits, outcomeTtlMs: number) =>
    this.log('commitKeyRotation', () => this.inner.commitKeyRotation(flight, key, previousKid, limits, outcomeTtlMs));
  keyRotationOutcome = (flight: string) => this.log('keyRotationOutcome', () => this.inner.keyRotationOutcome(flight));
  listSigningKeys = () => this.log('listSigningKeys', () => this.inner.listSigningKeys());
  createSession = (session: RefreshSessionRecord, limits?: SessionLimits) => this.log('createSession', () => this.inner.createSession(session, limits));
  getSession = (tag: string, sid: string) => this.log('getSession', () => this.inner.getSession(tag, sid));
  rotateSession = (tag: string, sid: string, sub: string, generation: number, conditions: RotateConditions) =>
    this.log('rotateSession', () => this.inner.rotateSession(tag, sid, sub, generation, conditions));
  revokeSession = (tag: string, sid: string, reason: string, retainMs?: number) => this.log('revokeSession', () => this.inner.revokeSession(tag, sid, reason, retainMs));
  learnContext = (tag: string, sub: string, learning: RiskLearning) => this.log('learnContext', () => this.inner.learnContext(tag, sub, learning));
  recordChallenge = (tag: string, sub: string, atMs: number, ttlMs: number, contextKey: string) =>
    this.log('recordChallenge', () => this.inner.recordChallenge(tag, sub, atMs, ttlMs, contextKey));
  raiseStepUpBefore = (tag: string, sub: string, atMs: number, ttlMs: number) => this.log('raiseStepUpBefore', () => this.inner.raiseStepUpBefore(tag, sub, atMs, ttlMs));
  appendEvent = (event: SecurityEvent) => this.log('appendEvent', () => this.inner.appendEvent(event));
  listEvents = (query: SecurityEventQuery) => this.log('listEvents', () => this.inner.listEvents(query));
  cleanupExpired = (budgetMs: number) => this.log('cleanupExpired', () => this.inner.cleanupExpired(budgetMs));
  ping = () => this.log('ping', () => this.inner.ping());
  close = () => this.log('close', () => this.inner.close());
}

/**
 * A store that answers the per-request `check` itself: the built-in parts' memory twins (`runMemoryCheck`) over
 * spaces of its own, here a view that records which spaces the call uses (per-space metrics), over the memory
 * store whose other ports keep the state `check` reads. Its `check` never reaches `MemoryDefenseStore.check`.
 */
class OwnCheckStore extends LoggingStore {
  readonly spacesUsed = new Set<string>();
  private readonly spaces: MemorySpaces = {
    expiring: <V>(name: string) => (this.spacesUsed.add(`expiring:${name}`), this.inner.spaces.expiring<V>(name)),
    counters: (name: string) => (this.spacesUsed.add(`counters:${name}`), this.inner.spaces.counters(name)),
    lru: <V>(name: string) => (this.spacesUsed.add(`lru:${name}`), this.inner.spaces.lru<V>(name)),
  };

  override check = (request: DefenseCheckRequest) => this.log('check', () => runMemoryCheck(this.spaces, request, Date.now()));
}

runDefenseStoreContract('a store of your own (LoggingStore)', () => new LoggingStore());
runDefenseStoreContract('a store that runs the memory twins over its own spaces (OwnCheckStore)', () => new OwnCheckStore());

describe('a store of your own, from @jwt-defense/core/store', () => {
  it('is the store the module runs on (store: { type: custom })', async () => {
    const store = new LoggingStore();
    const moduleRef = await Test.createTestingModule({
      imports: [JwtDefenseModule.forRoot(fixtureOptions({ store: { type: 'custom', store }, revocation: { cleanupCron: false } }))],
    }).compile();
    await moduleRef.init();
    try {
      const { jti } = await moduleRef.get(TokenService).issue('alice');
      const revocation = moduleRef.get(RevocationService);
      await expect(revocation.isRevoked(jti, 'alice')).resolves.toBe(false);
      await revocation.revoke(jti, { reason: 'custom store', sub: 'alice' });
      await expect(revocation.isRevoked(jti, 'alice')).resolves.toBe(true);
      expect(store.calls).toEqual(expect.arrayContaining(['revokeToken', 'getRevocation']));
    } finally {
      await moduleRef.close();
    }
  });

  it('answers the check of every authenticated request with the memory twins over its own spaces', async () => {
    const store = new OwnCheckStore();
    const innerCheck = jest.spyOn(MemoryDefenseStore.prototype, 'check');
    const moduleRef = await Test.createTestingModule({
      imports: [JwtDefenseModule.forRoot(fixtureOptions({ store: { type: 'custom', store }, revocation: { cleanupCron: false } }))],
    }).compile();
    await moduleRef.init();
    try {
      const { token, jti } = await moduleRef.get(TokenService).issue('alice');
      const authorization = `Bearer ${token}`;
      const request = () => ({ method: 'GET', url: '/me', headers: { authorization }, rawHeaders: ['Authorization', authorization], socket: { remoteAddress: '203.0.113.9' } });
      const authenticator = moduleRef.get(DefenseAuthenticator);
      await expect(authenticator.authenticate(request())).resolves.toMatchObject({ sub: 'alice', jti });
      expect(store.calls).toContain('check');
      expect(store.spacesUsed).toContain('expiring:revocations');
      await moduleRef.get(RevocationService).revoke(jti, { reason: 'custom check', sub: 'alice' });
      const refused = await authenticator.authenticate(request()).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(JwtDefenseErrors.InvalidTokenException);
      expect(refused).toMatchObject({ code: 'token_revoked' });
      expect(innerCheck).not.toHaveBeenCalled();
    } finally {
      innerCheck.mockRestore();
      await moduleRef.close();
    }
  });

  it('the contract needs a test runner: outside one it says where to call it', () => {
    const scope = globalThis as { describe?: unknown };
    const describe = scope.describe;
    scope.describe = undefined;
    try {
      expect(() => runDefenseStoreContract('nowhere', () => new LoggingStore())).toThrow(/describe is missing: call it at the top level of a Jest test file/);
    } finally {
      scope.describe = describe;
    }
  });
});
