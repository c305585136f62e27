import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import request from 'supertest';
import fc from 'fast-check';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { b64url, signJws } from './support/jws.js';

const ISSUER = 'jwt-defense-demo';

describe.each(ADAPTERS)('Layer 1 token handling over %s', (adapter) => {
  let demo: DemoHandle;
  let kid: string;
  let goodToken: string;

  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '100000' });
    const login = await request(demo.server).post('/auth/login').send({ username: 'alice', password: 'alice-password' });
    expect(login.status).toBe(200);
    goodToken = login.body.access_token;
    kid = JSON.parse(Buffer.from(goodToken.split('.')[0], 'base64url').toString()).kid;
  });
  afterAll(() => demo.close());

  const now = () => Math.floor(Date.now() / 1000);
  const header = (overrides: object = {}) => ({ alg: 'ES256', typ: 'at+jwt', kid, ...overrides });
  const claims = (overrides: object = {}) => ({
    iss: ISSUER,
    aud: ISSUER,
    sub: 'alice',
    jti: 'forged-jti-1',
    iat: now(),
    exp: now() + 300,
    roles: ['user'],
    ...overrides,
  });
  const sign = (h: object | string | Buffer, p: object | string | Buffer) => signJws(h, p, demo.privateKey, 'ES256');
  const withoutKey = (object: Record<string, unknown>, key: string) => {
    const { [key]: _removed, ...rest } = object;
    return rest;
  };

  it('login → /me answers 200 with the principal and no-store', async () => {
    const res = await request(demo.server).get('/me').set('Authorization', `Bearer ${goodToken}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sub: 'alice', roles: ['user'], jti: expect.any(String), exp: expect.any(Number) });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('issues at+jwt tokens with kid and every required claim', () => {
    const [h, p] = goodToken.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    expect(h).toEqual({ alg: 'ES256', typ: 'at+jwt', kid });
    expect(p).toMatchObject({ iss: ISSUER, aud: ISSUER, sub: 'alice', roles: ['user'] });
    expect(p.exp - p.iat).toBe(300);
    // <user tag><issued-at ms><128 random bits><check>, see token-ids.ts
    expect(p.jti).toMatch(/^[\w-]{50}$/);
    expect(Buffer.from(p.jti.slice(20, 42), 'base64url')).toHaveLength(16);
  });

  it('accepts the scheme case-insensitively', async () => {
    const res = await request(demo.server).get('/me').set('Authorization', `bEaReR ${goodToken}`);
    expect(res.status).toBe(200);
  });

  it('no token → 401 token_missing with a realm-only challenge', async () => {
    const res = await request(demo.server).get('/me');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.any(String), code: 'token_missing' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
  });

  it('another scheme counts as no bearer token', async () => {
    const res = await request(demo.server).get('/me').set('Authorization', 'Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=');
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('token_missing');
  });

  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const hostile: Array<[string, () => string, string]> = [
    ['alg none', () => `${b64url(header({ alg: 'none' }))}.${b64url(claims())}.`, 'algorithm_not_allowed'],
    ['alg NONE with a signature', () => `${b64url(header({ alg: 'NONE' }))}.${b64url(claims())}.c2ln`, 'algorithm_not_allowed'],
    ['signature stripped', () => goodToken.slice(0, goodToken.lastIndexOf('.') + 1), 'signature_invalid'],
    ['signature of another token', () => `${sign(header(), claims()).split('.').slice(0, 2).join('.')}.${goodToken.split('.')[2]}`, 'signature_invalid'],
    [
      'HS256 signed with the ES public key (algorithm confusion)',
      () => signJws(header({ alg: 'HS256' }), claims(), Buffer.from(createPublicKey(demo.privateKey).export({ format: 'pem', type: 'spki' })), 'HS256'),
      'algorithm_not_allowed',
    ],
    ['ES384 on an ES256 key', () => sign(header({ alg: 'ES384' }), claims()), 'algorithm_not_allowed'],
    ['wrong kid (signed by another key under our kid)', () => signJws(header(), claims(), attacker, 'ES256'), 'signature_invalid'],
    ['unknown kid', () => sign(header({ kid: 'some-other-key' }), claims()), 'signature_invalid'],
    ['kid outside the allowed charset', () => sign(header({ kid: '../../etc/passwd' }), claims()), 'token_malformed'],
    ['kid too long', () => sign(header({ kid: 'k'.repeat(65) }), claims()), 'token_malformed'],
    ['no kid', () => sign(withoutKey(header(), 'kid'), claims()), 'token_malformed'],
    ['expired', () => sign(header(), claims({ iat: now() - 400, exp: now() - 100 })), 'token_expired'],
    ['nbf in the future', () => sign(header(), claims({ nbf: now() + 120 })), 'token_not_yet_valid'],
    ['iat in the future', () => sign(header(), claims({ iat: now() + 120, exp: now() + 300 })), 'token_not_yet_valid'],
    ['wrong iss', () => sign(header(), claims({ iss: 'https://evil.example' })), 'claim_invalid'],
    ['wrong aud', () => sign(header(), claims({ aud: 'another-api' })), 'claim_invalid'],
    ['missing jti', () => sign(header(), withoutKey(claims(), 'jti')), 'claim_invalid'],
    ['missing sub', () => sign(header(), withoutKey(claims(), 'sub')), 'claim_invalid'],
    ['sub of the wrong JSON type', () => sign(header(), claims({ sub: 42 })), 'claim_invalid'],
    ['exp of the wrong JSON type', () => sign(header(), claims({ exp: String(now() + 300) })), 'claim_invalid'],
    ['roles of the wrong JSON type', () => sign(header(), claims({ roles: 'admin' })), 'claim_invalid'],
    ['typ JWT instead of at+jwt', () => sign(header({ typ: 'JWT' }), claims()), 'claim_invalid'],
    ['typ of a refresh token', () => sign(header({ typ: 'rt+jwt' }), claims()), 'claim_invalid'],
    ['no typ', () => sign(withoutKey(header(), 'typ'), claims()), 'claim_invalid'],
    ['exp - iat over the maximum lifetime', () => sign(header(), claims({ exp: now() + 3600 })), 'claim_invalid'],
    ['jku header', () => sign(header({ jku: 'https://evil.example/jwks' }), claims()), 'token_malformed'],
    ['embedded jwk header', () => sign(header({ jwk: { kty: 'EC' } }), claims()), 'token_malformed'],
    ['crit header', () => sign(header({ crit: ['exp'] }), claims()), 'token_malformed'],
    [
      'duplicate alg in the header',
      () => sign(`{"alg":"ES256","typ":"at+jwt","kid":"${kid}","alg":"ES256"}`, claims()),
      'token_malformed',
    ],
    ['duplicate sub in the payload', () => sign(header(), `{"sub":"bob",${JSON.stringify(claims()).slice(1)}`), 'token_malformed'],
    [
      'non-canonical base64url signature (non-zero trailing bits)',
      () => {
        const token = sign(header(), claims());
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        return token.slice(0, -1) + alphabet[alphabet.indexOf(token.slice(-1)) | 1];
      },
      'token_malformed',
    ],
    [
      'tampered signature',
      () => {
        const token = sign(header(), claims());
        const at = token.lastIndexOf('.') + 10;
        return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
      },
      'signature_invalid',
    ],
    ['padding in a segment', () => { const [h, p, s] = sign(header(), claims()).split('.'); return `${h}.${p}=.${s}`; }, 'token_malformed'],
    ['four segments', () => `${goodToken}.abc`, 'token_malformed'],
    ['not a JWT at all', () => 'abc', 'token_malformed'],
    ['header that is not JSON', () => `${b64url('nope')}.${b64url(claims())}.c2ln`, 'token_malformed'],
    ['oversized token', () => sign(header(), claims({ pad: 'x'.repeat(9000) })), 'token_malformed'],
    // Invalid UTF-8 inside a validly signed token (security review finding 9): decoded strictly, never lossily.
    ...(
      [
        ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
        ['a lone FF byte', [0xff]],
        ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
        ['a truncated sequence (E2 82)', [0xe2, 0x82]],
      ] as Array<[string, number[]]>
    ).flatMap(([name, bytes]): Array<[string, () => string, string]> => {
      const inString = (json: string) => Buffer.concat([Buffer.from(json.slice(0, -2)), Buffer.from(bytes), Buffer.from(json.slice(-2))]);
      return [
        [`invalid UTF-8 in the signed payload: ${name}`, () => sign(header(), inString(JSON.stringify(claims({ name: 'x' })))), 'token_malformed'],
        [`invalid UTF-8 in the signed header: ${name}`, () => sign(inString(JSON.stringify(header({ note: 'x' }))), claims()), 'token_malformed'],
      ];
    }),
  ];

  it.each(hostile.map(([name, build, code]) => [name, code, build] as const))('%s → 401 %s', async (_name, code, build) => {
    const token = build();
    const res = await request(demo.server).get('/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe(code);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api", error="invalid_token"');
    // Nothing of the token comes back.
    for (const part of token.split('.').filter((segment) => segment.length > 3)) {
      expect(res.text).not.toContain(part);
    }
  });

  it('Bearer with two spaces → 401 token_malformed', async () => {
    const res = await request(demo.server).get('/me').set('Authorization', `Bearer  ${goodToken}`);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('token_malformed');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('a second Authorization header → 400 invalid_request', async () => {
    const res = await request(demo.server)
      .get('/me')
      .set('Authorization', [`Bearer ${goodToken}`, `Bearer ${goodToken}`] as unknown as string);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_request');
    expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it.each(['access_token', 'access%5Ftoken'])('a token in the query string (%s) → 400 invalid_request', async (name) => {
    const res = await request(demo.server).get(`/me?${name}=${goodToken}`).set('Authorization', `Bearer ${goodToken}`);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_request');
    const alone = await request(demo.server).get(`/me?${name}=${goodToken}`);
    expect(alone.status).toBe(400);
    expect(alone.text).not.toContain(goodToken.split('.')[1]);
  });

  it('never answers 5xx to arbitrary Authorization values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((parts) => parts.join('.')),
          fc.tuple(fc.jsonValue(), fc.jsonValue()).map(([h, p]) => `${b64url(JSON.stringify(h) ?? '')}.${b64url(JSON.stringify(p) ?? '')}.c2ln`),
          fc.jsonValue().map((p) => sign(header(), JSON.stringify(p) ?? 'null')),
          fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue()).map((p) => sign(header(), { ...claims(), ...p })),
        ),
        async (value) => {
          const printable = value.replace(/[^\x20-\x7e]/g, '');
          const res = await request(demo.server).get('/me').set('Authorization', `Bearer ${printable}`);
          expect([200, 400, 401]).toContain(res.status);
          expect(typeof res.body.code === 'string' || res.status === 200).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});
