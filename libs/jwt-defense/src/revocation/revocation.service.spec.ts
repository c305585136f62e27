import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { JwtDefenseModule } from '../jwt-defense.module.js';
import { TokenService } from '../token/token.service.js';
import { RefreshTokenService } from '../session/refresh-token.service.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import { RequestCheckStore } from '../store/defense-store.ports.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { authenticatedAtMs, userTag } from '../token/token-ids.js';
import { storeVerdict } from './revocation.policy.js';
import { RevocationService } from './revocation.service.js';
import { checkToken } from '../store/contract/token-check.js';

const FAKE = { doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] as Array<'nextTick' | 'setImmediate' | 'queueMicrotask'> };
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);

describe('RevocationService (memory store, frozen clock)', () => {
  let moduleRef: TestingModule;
  let tokens: TokenService;
  let revocation: RevocationService;
  let refresh: RefreshTokenService;

  beforeEach(async () => {
    jest.useFakeTimers({ ...FAKE, now: T0 });
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: {
            issuer: 'iss',
            audience: 'aud',
            keys: [
              { kid: 'a', algorithms: ['HS256'], secret: randomBytes(32) },
              { kid: 'b', algorithms: ['HS256'], secret: randomBytes(32) },
            ],
            signingKid: 'a',
          },
          revocation: { cleanupCron: false },
        }),
      ],
    }).compile();
    await moduleRef.init();
    tokens = moduleRef.get(TokenService);
    revocation = moduleRef.get(RevocationService);
    refresh = moduleRef.get(RefreshTokenService);
  });
  afterEach(async () => {
    await moduleRef.close();
    jest.useRealTimers();
  });

  /** The verdict the pipeline's revocation stage reaches: the global measures from memory, then the store call's answer. */
  const verdictOf = async (principal: AccessTokenPrincipal) => {
    const tag = userTag(principal.sub);
    const at = authenticatedAtMs(principal, tag);
    const check = { tag, sub: principal.sub, jti: principal.jti ?? '', sid: principal.sid };
    return revocation.globalVerdict(principal.kid, at) ?? storeVerdict(await checkToken(moduleRef.get<RequestCheckStore>(RequestCheckStore), check), at);
  };
  const verdict = async (token: string) => verdictOf(await tokens.verify(token));

  it('revoke-all splits one second at the millisecond: earlier tokens die, a login right after lives', async () => {
    jest.setSystemTime(T0 + 100);
    const before = (await tokens.issue('alice')).token;
    jest.setSystemTime(T0 + 300);
    await revocation.revokeAllForUser('alice', 'takeover');
    jest.setSystemTime(T0 + 700);
    const after = (await tokens.issue('alice')).token;
    // Same `iat` second for both tokens.
    expect((await tokens.verify(before)).iat).toBe((await tokens.verify(after)).iat);
    expect(await verdict(before)).toBe('user');
    expect(await verdict(after)).toBeUndefined();
  });

  it('a token whose jti is not ours counts from the start of its iat second (in doubt, refuse)', async () => {
    const principal = { ...(await tokens.verify((await tokens.issue('alice')).token)), jti: 'foreign-jti' };
    jest.setSystemTime(T0 + 500);
    await revocation.revokeAllForUser('alice', 'takeover');
    expect(await verdictOf(principal)).toBe('user');
  });

  it('revokes a jti by its id alone, with reason, actor and time, and only once', async () => {
    const issued = await tokens.issue('alice');
    await expect(revocation.revoke(issued.jti, { reason: 'stolen', actor: 'admin' })).resolves.toBe(true);
    await expect(revocation.revoke(issued.jti, { reason: 'again' })).resolves.toBe(false);
    await expect(revocation.isRevoked(issued.jti)).resolves.toBe(true);
    await expect(revocation.getRevocationInfo(issued.jti)).resolves.toMatchObject({ reason: 'stolen', actor: 'admin', revokedAtMs: T0 });
    expect(await verdict(issued.token)).toBe('jti');
    await expect(revocation.revoke('foreign', { reason: 'x' })).rejects.toMatchObject({ code: 'subject_required' });
    // Shaped like ours but not ours (the check fails): never recorded under a guessed user.
    const lookalike = `${issued.jti.slice(0, 42)}AAAAAAAA`;
    await expect(revocation.revoke(lookalike, { reason: 'x' })).rejects.toMatchObject({ code: 'subject_required' });
  });

  it('a denylist entry vanishes once the token could no longer be used (exp + grace)', async () => {
    const issued = await tokens.issue('alice');
    await revocation.revoke(issued.jti, { reason: 'x', sub: 'alice', expiresAt: issued.exp * 1000 });
    jest.setSystemTime(issued.exp * 1000 + 900_000 - 1);
    await expect(revocation.isRevoked(issued.jti, 'alice')).resolves.toBe(true);
    jest.setSystemTime(issued.exp * 1000 + 900_000);
    await expect(revocation.isRevoked(issued.jti, 'alice')).resolves.toBe(false);
  });

  it('revokeAllIssuedBefore and retireKey apply to every user', async () => {
    const alice = (await tokens.issue('alice')).token;
    jest.setSystemTime(T0 + 1000);
    await revocation.revokeAllIssuedBefore(T0 + 500, 'incident');
    expect(await verdict(alice)).toBe('global');
    expect(await verdict((await tokens.issue('bob')).token)).toBeUndefined();

    await expect(revocation.retireKey('a', 'leak')).rejects.toMatchObject({ code: 'signing_key_active', status: 409 });
    await revocation.retireKey('b', 'leak');
    const principal = await tokens.verify((await tokens.issue('carol')).token);
    expect(await verdictOf({ ...principal, kid: 'b' })).toBe('key');
  });

  it('refresh: reuse detection, and revoke-all ends the sessions too', async () => {
    const pair = await refresh.issuePair('alice', { roles: ['user'] });
    const next = await refresh.refresh(pair.refreshToken);
    expect((await tokens.verify(next.accessToken.token)).roles).toEqual(['user']);
    await expect(refresh.refresh(pair.refreshToken)).rejects.toMatchObject({ code: 'token_revoked' });
    await expect(refresh.refresh(next.refreshToken)).rejects.toMatchObject({ code: 'token_revoked' });
    expect(await verdict(next.accessToken.token)).toBe('session');

    const other = await refresh.issuePair('alice');
    jest.setSystemTime(T0 + 10);
    await revocation.revokeAllForUser('alice', 'x');
    await expect(refresh.refresh(other.refreshToken)).rejects.toBeInstanceOf(TokenVerificationError);
  });

  it('a refresh session ends at its lifetime', async () => {
    const pair = await refresh.issuePair('alice');
    jest.setSystemTime(T0 + 604_800_000);
    await expect(refresh.refresh(pair.refreshToken)).rejects.toMatchObject({ code: 'token_expired' });
  });
});
