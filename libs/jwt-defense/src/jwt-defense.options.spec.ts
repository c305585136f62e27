import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Test } from '@nestjs/testing';
import { JwtDefenseModule } from './jwt-defense.module.js';
import { resolveJwtDefenseOptions, type JwtDefenseModuleOptions } from './jwt-defense.options.js';
import { TokenService } from './token/token.service.js';
import type { RedisStoreOptions } from './store/store.options.js';

const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
type Writable = { token: { keys: Array<Record<string, unknown>> } & Record<string, unknown> } & Record<string, unknown>;
const base = (): JwtDefenseModuleOptions & Writable =>
  ({
    token: { issuer: 'https://issuer.test', audience: 'api', keys: [{ kid: 'k1', algorithms: ['ES256'], privateKey: es256.privateKey }] },
  }) as JwtDefenseModuleOptions & Writable;

describe('resolveJwtDefenseOptions', () => {
  it('applies the documented defaults, layer by layer', () => {
    const options = resolveJwtDefenseOptions(base());
    expect(options.token).toMatchObject({ accessTokenTtlSec: 300, maxAccessTokenTtlSec: 900, clockToleranceSec: 30, maxTokenBytes: 8192, verifiedTokenCacheSize: 10_000 });
    expect(options.store).toMatchObject({ type: 'memory', maxRevocations: 100_000, maxSessions: 100_000, maxUserEpochs: 100_000, maxCounters: 100_000, maxEvents: 10_000 });
    expect(options.throttle).toMatchObject({ ip: { limit: 100, ttlMs: 60_000 }, user: { limit: 100, ttlMs: 60_000 }, algorithm: 'fixed', failMode: 'open', bodyFailMode: 'closed', headers: false, allow: [] });
    expect(options.revocation).toMatchObject({ failMode: 'closed', graceSec: 900, globalStateRefreshMs: 1000, cleanupCron: '0 */5 * * * *', cleanupBudgetMs: 200 });
    expect(options.proxy).toMatchObject({ trusted: [], header: 'x-forwarded-for', ipv6SubnetPrefix: 64 });
    expect(options.session).toMatchObject({ refreshTokenTtlSec: 604_800 });
    expect(options.securityHeaders).toMatchObject({ hstsMaxAgeSec: 31_536_000, frameOptions: 'DENY', cacheControl: 'no-store' });
    expect(options.realm).toBe('api');
    expect(options.incident).toMatchObject({ adminRoles: ['admin'], maxRotatedKeys: 10 });
  });

  it.each<[string, (o: Writable) => void, RegExp]>([
    ['alg none', (o) => (o.token.keys[0].algorithms = ['none']), /token\.keys\[0\]\.algorithms contains "none"/],
    ['an HS256 secret under 32 bytes', (o) => (o.token.keys = [{ kid: 'h', algorithms: ['HS256'], secret: 'x'.repeat(31) }]), /token\.keys\[0\]\.secret is 31 bytes.*at least 32 bytes/],
    ['an HS512 secret under 64 bytes', (o) => (o.token.keys = [{ kid: 'h', algorithms: ['HS512'], secret: randomBytes(40) }]), /token\.keys\[0\]\.secret is 40 bytes.*at least 64 bytes/],
    ['symmetric and asymmetric algorithms on one key', (o) => (o.token.keys = [{ kid: 'm', algorithms: ['HS256', 'ES256'], secret: randomBytes(32) }]), /token\.keys\[0\]\.algorithms mixes symmetric \(HS\*\) and asymmetric/],
    ['an access lifetime over 15 minutes', (o) => (o.token.accessTokenTtlSec = 901), /token\.accessTokenTtlSec must not be greater than 900/],
    ['a maximum lifetime over 15 minutes', (o) => (o.token.maxAccessTokenTtlSec = 3600), /token\.maxAccessTokenTtlSec must not be greater than 900/],
    ['a key without kid', (o) => delete o.token.keys[0].kid, /token\.keys\[0\]\.kid/],
    ['a kid outside the charset', (o) => (o.token.keys[0].kid = 'a b'), /token\.keys\[0\]\.kid is missing or invalid/],
    ['a duplicate kid', (o) => o.token.keys.push({ ...o.token.keys[0] }), /token\.keys\[1\]\.kid "k1" is used twice/],
    ['no keys (and no issuers)', (o) => (o.token.keys = []), /token\.keys is empty and no issuers are listed/],
    ['an ES256 key on the wrong curve', (o) => (o.token.keys[0].privateKey = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), /token\.keys\[0\]\.privateKey is not on the curve ES256 requires/],
    ['an RSA key under 2048 bits', (o) => (o.token.keys = [{ kid: 'r', algorithms: ['RS256'], privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey }]), /token\.keys\[0\]\.privateKey has 1024 bits/],
    ['a secret on an asymmetric key', (o) => (o.token.keys[0].secret = randomBytes(32)), /token\.keys\[0\]\.secret is set for asymmetric algorithms/],
    ['a missing issuer', (o) => delete o.token.issuer, /token\.issuer/],
    ['a signingKid that cannot sign', (o) => (o.token.signingKid = 'nope'), /token\.signingKid "nope"/],
    ['a realm with a quote', (o) => (o.realm = 'a"b'), /realm must be 1-64 printable ASCII characters without a quote/],
    ['a bad security header value', (o) => (o.securityHeaders = { frameOptions: 'ALLOW' }), /securityHeaders\.frameOptions/],
    ['a header value with a line break', (o) => (o.securityHeaders = { referrerPolicy: 'x\r\nSet-Cookie: a=b' }), /securityHeaders\.referrerPolicy/],
    ['an unknown top-level option (a typo)', (o) => (o.throtle = {}), /^jwt-defense: invalid options: throtle is not an option: did you mean "throttle"\?/],
    ['an unknown nested option, with the fix', (o) => (o.throttle = { failmode: 'closed' }), /throttle\.failmode is not an option: did you mean "failMode"\?/],
    ['an unknown option deep in a profile', (o) => (o.throttle = { profiles: { login: { body: { field: 'username', limit: 5, ttlMs: 1000, blockMs: 5 } } } }), /throttle\.profiles\.login\.body\.blockMs is not an option/],
    ['an unknown option inside a key', (o) => (o.token.keys[0].alg = 'ES256'), /token\.keys\[0\]\.alg is not an option/],
    ['an unknown store type', (o) => (o.store = { type: 'mongo' }), /store\.type must be one of 'memory', 'redis', 'custom'/],
    ['an option of another store type', (o) => (o.store = { type: 'memory', keyPrefix: 'x:' }), /store\.keyPrefix is not an option/],
    ['a zero capacity', (o) => (o.store = { type: 'memory', maxRevocations: 0 }), /store\.maxRevocations must not be less than 1/],
    ['a redis store without a connection', (o) => (o.store = { type: 'redis' }), /store\.connection/],
    ['a replica count that is not one', (o) => (o.store = { type: 'redis', connection: 'redis://127.0.0.1:1', replicaAcks: 'always' }), /store\.replicaAcks must be one of the following values: auto, 0, 1, 2, 3, 4, 5/],
    ['a replica count over 5', (o) => (o.store = { type: 'redis', connection: 'redis://127.0.0.1:1', replicaAcks: 6 }), /store\.replicaAcks must be one of the following values/],
    ['a replica wait the command timeout would cut (auto)', (o) => (o.store = { type: 'redis', connection: 'redis://127.0.0.1:1', commandTimeoutMs: 100, replicaAckTimeoutMs: 100 }), /store\.replicaAckTimeoutMs \(100\) must be below store\.commandTimeoutMs \(100\).*lower it or raise commandTimeoutMs/],
    ['a custom store missing a port method', (o) => (o.store = { type: 'custom', store: { check: () => undefined } }), /store\.store must implement DefenseStore: missing recordProof, hit, revokeToken/],
    ['a limit out of range', (o) => (o.throttle = { ip: { limit: 0, ttlMs: 1000 } }), /throttle\.ip\.limit must not be less than 1/],
    ['a non-integer window', (o) => (o.throttle = { user: { limit: 5, ttlMs: 1.5 } }), /throttle\.user\.ttlMs must be an integer/],
    ['a fail mode that is not one', (o) => (o.revocation = { failMode: 'maybe' }), /revocation\.failMode must be one of the following values: open, closed/],
    ['a bad cron expression', (o) => (o.revocation = { cleanupCron: 'every day' }), /revocation\.cleanupCron is not a cron expression/],
    ['an invalid CIDR', (o) => (o.proxy = { trusted: ['10.0.0.0/33'] }), /proxy\.trusted must be a list of IP addresses or CIDRs/],
    ['a bad CIDR in the allow-list, by its index', (o) => (o.throttle = { allow: ['10.0.0.0/8', '2001:db8::/129'] }), /throttle\.allow\[1\] must be an IP address or a CIDR/],
    ['two addresses in one allow-list entry', (o) => (o.throttle = { allow: ['10.0.0.1,10.0.0.2'] }), /throttle\.allow\[0\] must be an IP address or a CIDR/],
    ['an allow-list entry that is not a string', (o) => (o.throttle = { allow: [167772161] }), /throttle\.allow.*must be a string/],
    ['an unknown proxy header', (o) => (o.proxy = { trusted: [], header: 'x-client-ip' }), /proxy\.header must be one of the following values/],
    ['a key-encryption key that is not 32 bytes', (o) => (o.incident = { keyEncryptionKey: randomBytes(16) }), /incident\.keyEncryptionKey must be exactly 32 bytes \(got 16\)/],
    ['no admin role for the lockdown', (o) => (o.incident = { adminRoles: [] }), /incident\.adminRoles should not be empty/],
    ['a key ring that cannot rotate twice', (o) => (o.incident = { maxRotatedKeys: 1 }), /incident\.maxRotatedKeys must not be less than 2/],
    ['a key ring over 100 keys', (o) => (o.incident = { maxRotatedKeys: 101 }), /incident\.maxRotatedKeys must not be greater than 100/],
    ['a misspelled incident option', (o) => (o.incident = { adminRole: ['ops'] }), /incident\.adminRole is not an option: did you mean "adminRoles"\?/],
    ['a body limit on a bad field name', (o) => (o.throttle = { profiles: { login: { body: { field: 'user.name', limit: 5, ttlMs: 1000 } } } }), /throttle\.profiles\.login\.body\.field must name a top-level body member/],
    ['a metrics sink without its methods', (o) => (o.metrics = { decision: () => undefined }), /metrics must implement DefenseMetricsSink: missing storeCall, cacheLookup/],
  ])('refuses %s with a message naming the option', (_name, mutate, message) => {
    const options = base();
    mutate(options);
    expect(() => resolveJwtDefenseOptions(options)).toThrow(TypeError);
    expect(() => resolveJwtDefenseOptions(options)).toThrow(message);
  });

  it('waits for replicas only where they exist by default, with a wait that a short command timeout does not cut', () => {
    const redis = (store: Record<string, unknown>) => resolveJwtDefenseOptions({ ...base(), store: { type: 'redis', connection: 'redis://127.0.0.1:1', ...store } as never }).store;
    expect(redis({})).toMatchObject({ replicaAcks: 'auto', commandTimeoutMs: 500 });
    expect((redis({}) as RedisStoreOptions).replicaAckTimeoutMs).toBeUndefined(); // derived by the store: 200, or half the command timeout
    expect(redis({ commandTimeoutMs: 100 })).toMatchObject({ replicaAcks: 'auto', commandTimeoutMs: 100 });
    expect(redis({ replicaAcks: 0, commandTimeoutMs: 100, replicaAckTimeoutMs: 100 })).toMatchObject({ replicaAcks: 0 });
    expect(redis({ replicaAcks: 2 })).toMatchObject({ replicaAcks: 2 });
  });

  it('takes IPv4 and IPv6 addresses and CIDRs in throttle.allow', () => {
    const allow = ['127.0.0.1', '10.0.0.0/8', '::1', '2001:db8::/32', '::ffff:192.0.2.0/120'];
    expect(resolveJwtDefenseOptions({ ...base(), throttle: { allow } }).throttle.allow).toEqual(allow);
  });

  it('accepts true/false for a layer that can be turned off, and false for a limit', () => {
    expect(resolveJwtDefenseOptions({ ...base(), securityHeaders: false }).securityHeaders).toBe(false);
    expect(resolveJwtDefenseOptions({ ...base(), securityHeaders: true }).securityHeaders).toMatchObject({ frameOptions: 'DENY' });
    expect(resolveJwtDefenseOptions({ ...base(), throttle: { ip: false } }).throttle.ip).toBe(false);
  });

  it('takes transports.graphql as a mode string, as before, or as an object; refuses a bad mode and unknown names', () => {
    const graphql = (value: unknown) => resolveJwtDefenseOptions({ ...base(), transports: { graphql: value as never } }).transports.graphql;
    expect(resolveJwtDefenseOptions(base()).transports.graphql).toEqual({ mode: 'defend', publicIntrospection: false });
    expect(graphql('deny')).toEqual({ mode: 'deny', publicIntrospection: false });
    expect(graphql({ publicIntrospection: true })).toEqual({ mode: 'defend', publicIntrospection: true });
    expect(() => graphql('defned')).toThrow(/transports\.graphql\.mode must be one of the following values: defend, allow, deny/);
    expect(() => graphql({ publicIntrospecton: true })).toThrow(/transports\.graphql\.publicIntrospecton is not an option: did you mean "publicIntrospection"\?/);
    expect(() => graphql({ publicIntrospection: 'yes' })).toThrow(/transports\.graphql\.publicIntrospection must be a boolean/);
  });
});

describe('JwtDefenseModule', () => {
  it('fails at boot on bad options (forRoot)', async () => {
    const options = base();
    options.token.accessTokenTtlSec = 3600;
    const builder = Test.createTestingModule({ imports: [JwtDefenseModule.forRoot(options)] });
    await expect(builder.compile()).rejects.toThrow(/token\.accessTokenTtlSec must not be greater than 900/);
  });

  it('fails at boot on an unknown nested option, naming its path (forRoot)', async () => {
    const builder = Test.createTestingModule({ imports: [JwtDefenseModule.forRoot({ ...base(), throttle: { failmode: 'closed' } as never })] });
    await expect(builder.compile()).rejects.toThrow(/throttle\.failmode is not an option: did you mean "failMode"\?/);
  });

  it('resolves options from forRootAsync with inject', async () => {
    const CONFIG = Symbol('CONFIG');
    const moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRootAsync({
          isGlobal: true,
          useFactory: (ttl: number) => ({ token: { ...base().token, accessTokenTtlSec: ttl } }),
          inject: [CONFIG],
          imports: [{ module: class ConfigModule {}, providers: [{ provide: CONFIG, useValue: 120 }], exports: [CONFIG] }],
        }),
      ],
    }).compile();
    const issued = await moduleRef.get(TokenService).issue('alice');
    expect(issued.exp - issued.iat).toBe(120);
    await moduleRef.close();
  });

  it('fails at boot on bad options (forRootAsync)', async () => {
    const builder = Test.createTestingModule({
      imports: [JwtDefenseModule.forRootAsync({ useFactory: () => ({ token: { ...base().token, keys: [{ kid: 'h', algorithms: ['HS256'], secret: 'short' }] } }) })],
    });
    await expect(builder.compile()).rejects.toThrow(/token\.keys\[0\]\.secret is 5 bytes/);
  });
});
