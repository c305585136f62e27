import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { EXIT, runCli } from '../libs/jwt-defense/src/cli/cli.js';
import type { SecurityEvent } from '../libs/jwt-defense/src/events/security-event.js';
import { SecurityEventService } from '../libs/jwt-defense/src/events/security-event.service.js';
import { IncidentService } from '../libs/jwt-defense/src/incident/incident.service.js';
import { JwtDefenseModule } from '../libs/jwt-defense/src/jwt-defense.module.js';
import { RevocationPolicy } from '../libs/jwt-defense/src/revocation/revocation.policy.js';
import { RevocationService } from '../libs/jwt-defense/src/revocation/revocation.service.js';
import { RedisDefenseStore } from '../libs/jwt-defense/src/store/redis/redis-defense.store.js';
import { TokenService } from '../libs/jwt-defense/src/token/token.service.js';
import { userIdentity } from '../libs/jwt-defense/src/token/token-ids.js';
import { RedisServer } from './support/redis-server.js';

const OWN = 'https://api.policy.test';
const EXTERNAL = 'https://idp.policy.test';
const SERVICE = 'policy-svc:';
const CLI = 'policy-cli:';

/**
 * The `jwt-defense` CLI and the app write the same revocations with the same TTLs: the CLI, which does not know the
 * app's options, sizes them by the largest options the resolver allows, so an app configured with exactly those must
 * write the same. Each TTL is read back from Redis (PEXPIRETIME) and bracketed by the instants around the write.
 */
describe('the CLI and the app agree on every revocation TTL (one RevocationPolicy), on Redis', () => {
  let redis: RedisServer;
  let client: Redis;
  let moduleRef: TestingModule;
  let policy: RevocationPolicy;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url);
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          // The largest value of every option a revocation's TTL depends on.
          token: { issuer: OWN, audience: 'api', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }], maxAccessTokenTtlSec: 900, accessTokenTtlSec: 900, clockToleranceSec: 300 },
          // Never fetched by these tests (the background refresh fails quietly).
          issuers: [{ issuer: EXTERNAL, audience: 'api', jwksUri: 'https://127.0.0.1:9/jwks', maxTokenTtlSec: 86_400, clockToleranceSec: 300 }],
          session: { refreshTokenTtlSec: 7_776_000 },
          revocation: { graceSec: 86_400, globalStateRefreshMs: 3_600_000, cleanupCron: false },
          store: { type: 'redis', connection: redis.url, keyPrefix: SERVICE },
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    policy = moduleRef.get(RevocationPolicy);
    // The CLI checks an --issuer against the issuers an app declared under its prefix: as the app would at boot.
    const cliStore = new RedisDefenseStore({ connection: redis.url, keyPrefix: CLI });
    try {
      await cliStore.declareIssuers({ own: OWN, external: [EXTERNAL] });
    } finally {
      await cliStore.close();
    }
  });
  afterAll(async () => {
    await moduleRef?.close();
    client?.disconnect();
    await redis?.destroy();
  });

  const cli = async (...argv: string[]) => {
    let err = '';
    const code = await runCli(['--redis', redis.url, '--prefix', CLI, '--actor', 'oncall', ...argv], { out: () => undefined, err: (text) => (err += text), env: {} });
    expect({ code, err }).toEqual({ code: EXIT.ok, err: '' });
  };
  /** The TTL given, known within an interval, holds the expected one. */
  const expectWithin = (written: { min: number; max: number }, expectedMs: number) => {
    expect(written.min).toBeLessThanOrEqual(expectedMs);
    expect(written.max).toBeGreaterThanOrEqual(expectedMs);
  };
  const redisNowMs = async () => {
    const [sec, micro] = await client.time();
    return Number(sec) * 1000 + Math.ceil(Number(micro) / 1000);
  };
  /** Runs `write` and answers the TTL it gave `key`, as an interval: PEXPIRETIME less the latest and earliest instants it can count from. */
  const ttlOf = async (key: (prefix: string) => string, prefix: string, write: () => Promise<unknown>, startedAtMs: (prefix: string) => Promise<number>) => {
    await write();
    const after = await redisNowMs();
    const expiresAt = Number(await client.pexpiretime(key(prefix)));
    expect(expiresAt).toBeGreaterThan(0);
    return { min: expiresAt - after, max: expiresAt - (await startedAtMs(prefix)) };
  };

  it.each([
    ['an own user', undefined],
    ['an external issuer\'s user', EXTERNAL],
  ])('revoke-user of %s: the user epoch', async (_name, iss) => {
    const sub = `user-${iss === undefined ? 'own' : 'external'}`;
    const user = userIdentity(sub, iss, OWN);
    const key = (prefix: string) => `${prefix}{u:${user.tag}}:n:${user.subject}`;
    // The epoch's value is the store's clock when the write began: the TTL counts from it at the earliest.
    const epochOf = async (prefix: string) => Number(await client.get(key(prefix)));
    const service = await ttlOf(key, SERVICE, () => moduleRef.get(IncidentService).revokeUser(sub, { reason: 'test', actor: 'oncall', iss }), epochOf);
    const byCli = await ttlOf(key, CLI, () => cli('revoke-user', sub, ...(iss ? ['--issuer', iss] : []), '--reason', 'test'), epochOf);
    for (const written of [service, byCli]) expectWithin(written, policy.userEpochTtlMs);
  });

  it.each([
    ['one of our jtis alone', false],
    ['an external token\'s jti, with its sub and issuer', true],
  ])('revoke-token of %s: the denylist entry', async (_name, external) => {
    const jti = external ? `ext-${randomBytes(8).toString('hex')}` : (await moduleRef.get(TokenService).issue('dora')).jti;
    const user = userIdentity(external ? 'erin' : 'dora', external ? EXTERNAL : undefined, OWN);
    const key = (prefix: string) => `${prefix}{u:${user.tag}}:j:${jti}`;
    // Each side counts the TTL from the time it records as the revocation's: the expected TTL is the policy's for that time.
    const revokedAt = async (prefix: string) => Number(await client.hget(key(prefix), 'at'));
    const naming = external ? { sub: 'erin', iss: EXTERNAL } : {};
    const service = await ttlOf(key, SERVICE, () => moduleRef.get(RevocationService).revoke(jti, { reason: 'test', actor: 'oncall', ...naming }), revokedAt);
    const byCli = await ttlOf(key, CLI, () => cli('revoke-token', jti, ...(external ? ['--sub', 'erin', '--issuer', EXTERNAL] : []), '--reason', 'test'), revokedAt);
    for (const [written, prefix] of [[service, SERVICE], [byCli, CLI]] as const) expectWithin(written, policy.denylistTtlMs({ jti, external }, await revokedAt(prefix)));
  });

  it('records the same events as the app (the policy\'s), but for their id and time', async () => {
    const recorded: SecurityEvent[] = [];
    const subscription = moduleRef.get(SecurityEventService).events$.subscribe((event) => recorded.push(event));
    const incident = moduleRef.get(IncidentService);
    try {
      await incident.revokeUser('frank', { reason: 'phished', actor: 'oncall', iss: EXTERNAL });
      await incident.revokeBefore(undefined, { reason: 'leak', actor: 'oncall' });
      await incident.setLockdown('step-up', { reason: 'drill', actor: 'oncall' });
      await incident.setLockdown('off', { reason: 'drill over', actor: 'oncall' });
    } finally {
      subscription.unsubscribe();
    }
    await cli('revoke-user', 'frank', '--issuer', EXTERNAL, '--reason', 'phished');
    await cli('revoke-before', '--reason', 'leak');
    await cli('lockdown', 'step-up', '--reason', 'drill');
    await cli('lockdown', 'off', '--reason', 'drill over');
    const cliStore = new RedisDefenseStore({ connection: redis.url, keyPrefix: CLI });
    try {
      await cliStore.ready(5000);
      const byCli = (await cliStore.listEvents({ limit: 4 })).reverse();
      // revoke-before's time is each side's own "now": compared as present, not by value.
      const shape = ({ type, sub, reason, details }: SecurityEvent) => ({ type, sub, reason, details: { ...details, ...(details?.notBefore ? { notBefore: 'set' } : {}) } });
      expect(byCli.map(shape)).toEqual(recorded.map(shape));
      expect(recorded.map((event) => event.type)).toEqual(['user_revoked', 'global_revoked', 'lockdown_changed', 'lockdown_changed']);
    } finally {
      await cliStore.close();
    }
  });
});
