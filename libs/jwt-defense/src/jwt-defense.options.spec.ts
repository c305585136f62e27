import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Test } from '@nestjs/testing';
import { JwtDefenseModule } from './jwt-defense.module.js';
import { resolveJwtDefenseOptions, type JwtDefenseModuleOptions } from './jwt-defense.options.js';
import { TokenService } from './token/token.service.js';

const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const base = (): JwtDefenseModuleOptions => ({
  issuer: 'https://issuer.test',
  audience: 'api',
  keys: [{ kid: 'k1', algorithms: ['ES256'], privateKey: es256.privateKey }],
});

describe('resolveJwtDefenseOptions', () => {
  it('applies the documented defaults', () => {
    const options = resolveJwtDefenseOptions(base());
    expect(options.accessTokenTtlSec).toBe(300);
    expect(options.maxAccessTokenTtlSec).toBe(900);
    expect(options.clockToleranceSec).toBe(30);
    expect(options.signingKey?.kid).toBe('k1');
    expect(options.headerSet.length).toBeGreaterThan(5);
  });

  it.each<[string, (o: JwtDefenseModuleOptions) => void, RegExp]>([
    ['alg none', (o) => (o.keys[0].algorithms = ['none' as never]), /keys\[0\]\.algorithms contains "none"/],
    [
      'an HS256 secret under 32 bytes',
      (o) => (o.keys = [{ kid: 'h', algorithms: ['HS256'], secret: 'x'.repeat(31) }]),
      /keys\[0\]\.secret is 31 bytes.*at least 32 bytes/,
    ],
    [
      'an HS512 secret under 64 bytes',
      (o) => (o.keys = [{ kid: 'h', algorithms: ['HS512'], secret: randomBytes(40) }]),
      /keys\[0\]\.secret is 40 bytes.*at least 64 bytes/,
    ],
    [
      'symmetric and asymmetric algorithms on one key',
      (o) => (o.keys = [{ kid: 'm', algorithms: ['HS256', 'ES256'], secret: randomBytes(32) }]),
      /keys\[0\]\.algorithms mixes symmetric \(HS\*\) and asymmetric/,
    ],
    ['an access lifetime over 15 minutes', (o) => (o.accessTokenTtlSec = 901), /accessTokenTtlSec must be at most 900/],
    ['a maximum lifetime over 15 minutes', (o) => (o.maxAccessTokenTtlSec = 3600), /maxAccessTokenTtlSec must be at most 900/],
    ['a key without kid', (o) => delete (o.keys[0] as { kid?: string }).kid, /keys\[0\]\.kid is missing/],
    ['a kid outside the charset', (o) => (o.keys[0].kid = 'a b'), /keys\[0\]\.kid is missing or invalid/],
    ['a duplicate kid', (o) => o.keys.push({ ...o.keys[0] }), /keys\[1\]\.kid "k1" is used twice/],
    ['no keys', (o) => (o.keys = []), /keys should not be empty/],
    ['an ES256 key on the wrong curve', (o) => (o.keys[0].privateKey = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), /keys\[0\]\.privateKey is not on the curve ES256 requires/],
    ['an RSA key under 2048 bits', (o) => (o.keys = [{ kid: 'r', algorithms: ['RS256'], privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey }]), /keys\[0\]\.privateKey has 1024 bits/],
    ['a secret on an asymmetric key', (o) => (o.keys[0].secret = randomBytes(32)), /keys\[0\]\.secret is set for asymmetric algorithms/],
    ['an unknown option (a typo)', (o) => ((o as unknown as Record<string, unknown>).acessTokenTtlSec = 60), /property acessTokenTtlSec should not exist/],
    ['a missing issuer', (o) => delete (o as Partial<JwtDefenseModuleOptions>).issuer, /issuer/],
    ['a signingKid that cannot sign', (o) => (o.signingKid = 'nope'), /signingKid "nope"/],
    ['a realm with a quote', (o) => (o.realm = 'a"b'), /realm must not contain a quote/],
    ['a bad security header value', (o) => (o.securityHeaders = { frameOptions: 'ALLOW' as never }), /securityHeaders\.frameOptions/],
  ])('refuses %s with a message naming the option', (_name, mutate, message) => {
    const options = base();
    mutate(options);
    expect(() => resolveJwtDefenseOptions(options)).toThrow(TypeError);
    expect(() => resolveJwtDefenseOptions(options)).toThrow(message);
  });
});

describe('JwtDefenseModule', () => {
  it('fails at boot on bad options (forRoot)', async () => {
    const builder = Test.createTestingModule({
      imports: [JwtDefenseModule.forRoot({ ...base(), accessTokenTtlSec: 3600 })],
    });
    await expect(builder.compile()).rejects.toThrow(/accessTokenTtlSec must be at most 900/);
  });

  it('resolves options from forRootAsync with inject', async () => {
    const CONFIG = Symbol('CONFIG');
    const moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRootAsync({
          isGlobal: true,
          useFactory: (ttl: number) => ({ ...base(), accessTokenTtlSec: ttl }),
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
      imports: [JwtDefenseModule.forRootAsync({ useFactory: () => ({ ...base(), keys: [{ kid: 'h', algorithms: ['HS256'], secret: 'short' }] }) })],
    });
    await expect(builder.compile()).rejects.toThrow(/keys\[0\]\.secret is 5 bytes/);
  });
});
