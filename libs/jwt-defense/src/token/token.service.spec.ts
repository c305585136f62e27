import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { DefenseClock } from '../common/defense-clock.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import { resolveOptions, type OptionsInput } from '../common/options.js';
import { TokenOptions, type JwtKeyOptions } from './token.options.js';
import { TokenService } from './token.service.js';

const service = (options: Partial<OptionsInput<TokenOptions>> & Pick<OptionsInput<TokenOptions>, 'keys'>) =>
  new TokenService(resolveOptions(TokenOptions, { issuer: 'iss', audience: ['api', 'other'], ...options }, 'token'), new DefenseClock());

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenVerificationError);
    return (error as TokenVerificationError).code;
  }
  throw new Error('expected a TokenVerificationError');
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyCases: Array<[string, JwtKeyOptions]> = [
  ['HS256', { kid: 'hs256', algorithms: ['HS256'], secret: randomBytes(32) }],
  ['HS384', { kid: 'hs384', algorithms: ['HS384'], secret: randomBytes(48) }],
  ['HS512', { kid: 'hs512', algorithms: ['HS512'], secret: randomBytes(64) }],
  ['RS256', { kid: 'rs256', algorithms: ['RS256'], privateKey: rsa.privateKey }],
  ['PS256', { kid: 'ps256', algorithms: ['PS256'], privateKey: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }],
  ['ES256', { kid: 'es256', algorithms: ['ES256'], privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }],
  ['ES384', { kid: 'es384', algorithms: ['ES384'], privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey }],
  ['EdDSA', { kid: 'ed', algorithms: ['EdDSA'], privateKey: generateKeyPairSync('ed25519').privateKey }],
];

describe('TokenService', () => {
  afterEach(() => jest.useRealTimers());

  it.each(keyCases)('%s: issue → verify round trip, tampering refused', async (alg, key) => {
    const tokens = service({ keys: [key] });
    const issued = await tokens.issue('alice', { roles: ['user'], scope: 'read write' });
    const header = JSON.parse(Buffer.from(issued.token.split('.')[0], 'base64url').toString());
    expect(header).toEqual({ alg, typ: 'at+jwt', kid: key.kid });

    const principal = await tokens.verify(issued.token);
    expect(principal).toMatchObject({ sub: 'alice', jti: issued.jti, roles: ['user'], scopes: ['read', 'write'], kid: key.kid });
    expect(principal.claims).toMatchObject({ iss: 'iss', aud: 'api' });

    const [h, p, s] = issued.token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })).toString('base64url');
    expect(await codeOf(tokens.verify(`${h}.${forgedPayload}.${s}`))).toBe('signature_invalid');
  });

  it('verifies with every key of the ring and signs with signingKid (rotation)', async () => {
    const oldKey = keyCases[5][1];
    const newKey: JwtKeyOptions = { kid: 'es256-new', algorithms: ['ES256'], privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
    const before = service({ keys: [oldKey] });
    const oldToken = (await before.issue('alice')).token;

    const rotated = service({ keys: [oldKey, newKey], signingKid: 'es256-new' });
    const newToken = (await rotated.issue('alice')).token;
    expect(JSON.parse(Buffer.from(newToken.split('.')[0], 'base64url').toString()).kid).toBe('es256-new');
    await expect(rotated.verify(oldToken)).resolves.toMatchObject({ kid: oldKey.kid });
    await expect(rotated.verify(newToken)).resolves.toMatchObject({ kid: 'es256-new' });

    const retired = service({ keys: [newKey] });
    expect(await codeOf(retired.verify(oldToken))).toBe('signature_invalid');
  });

  it('a token signed by one key but naming another kid is refused', async () => {
    const a: JwtKeyOptions = { kid: 'a', algorithms: ['HS256'], secret: randomBytes(32) };
    const b: JwtKeyOptions = { kid: 'b', algorithms: ['HS256'], secret: randomBytes(32) };
    const token = (await service({ keys: [a] }).issue('alice')).token;
    const relabelled = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: 'b' })).toString('base64url')}.${token.split('.').slice(1).join('.')}`;
    expect(await codeOf(service({ keys: [a, b] }).verify(relabelled))).toBe('signature_invalid');
  });

  it('publishes only public keys in the JWKS', () => {
    const jwks = service({ keys: keyCases.map(([, key]) => key) }).getJwks();
    expect(jwks.keys.map((key) => key.kid)).toEqual(['rs256', 'ps256', 'es256', 'es384', 'ed']);
    for (const key of jwks.keys) {
      expect(key.use).toBe('sig');
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
    }
  });

  it('honours the clock tolerance on exp and iat', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    jest.useFakeTimers({ now: t0 });
    const tokens = service({ keys: [keyCases[0][1]], accessTokenTtlSec: 60, clockToleranceSec: 30 });
    const { token } = await tokens.issue('alice');
    jest.setSystemTime(t0 + 89_000);
    await expect(tokens.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    jest.setSystemTime(t0 + 90_000);
    expect(await codeOf(tokens.verify(token))).toBe('token_expired');
    // Issued 31 s "in the future" from the verifier's point of view.
    jest.setSystemTime(t0 - 31_000);
    expect(await codeOf(tokens.verify(token))).toBe('token_not_yet_valid');
    jest.setSystemTime(t0 - 29_000);
    await expect(tokens.verify(token)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('accepts any configured audience', async () => {
    const key = keyCases[0][1];
    const token = (await service({ keys: [key], audience: 'other' }).issue('alice')).token;
    await expect(service({ keys: [key], audience: ['api', 'other'] }).verify(token)).resolves.toMatchObject({ sub: 'alice' });
    expect(await codeOf(service({ keys: [key], audience: 'api' }).verify(token))).toBe('claim_invalid');
  });

  it('refuses to let callers override registered claims or exceed the maximum lifetime', async () => {
    const tokens = service({ keys: [keyCases[0][1]] });
    await expect(tokens.issue('alice', { exp: 9_999_999_999 })).rejects.toThrow(/sets exp itself/);
    await expect(tokens.issue('alice', {}, { ttlSec: 901 })).rejects.toThrow(/ttlSec must be an integer from 1 to 900/);
  });

  it('cannot issue without a signing key, but still verifies', async () => {
    const es = keyCases[5][1];
    const signer = service({ keys: [es] });
    const verifier = service({ keys: [{ kid: es.kid, algorithms: ['ES256'], publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey }] });
    await expect(verifier.issue('alice')).rejects.toThrow(/no key of token\.keys can sign/);
    expect(await codeOf(verifier.verify((await signer.issue('alice')).token))).toBe('signature_invalid');
  });
});
