import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { connect } from 'node:net';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import { createDpopProof, httpsRequest, OidcProvider, OidcTokenError } from './support/oidc-provider.js';

// The harness later suites verify external-issuer tokens against: a real oidc-provider over HTTPS.
const AUDIENCE = 'https://api.test';
const CLIENT = { clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('OidcProvider test harness', () => {
  let op: OidcProvider;

  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT, accessTokenTtlSec: 120 });
  });
  afterAll(() => op?.stop());

  async function jwks(): Promise<JSONWebKeySet> {
    const res = await op.request(op.jwksUri);
    expect(res.status).toBe(200);
    return JSON.parse(res.body) as JSONWebKeySet;
  }

  async function verify(token: string) {
    return jwtVerify(token, createLocalJWKSet(await jwks()), {
      issuer: op.issuer,
      audience: AUDIENCE,
      typ: 'at+jwt',
      algorithms: ['ES256', 'RS256'],
    });
  }

  it('serves discovery over HTTPS trusted only through the test CA', async () => {
    expect(op.issuer).toBe(`https://127.0.0.1:${op.port}`);
    expect(op.discovery).toMatchObject({
      issuer: op.issuer,
      jwks_uri: `${op.issuer}/jwks`,
      token_endpoint: `${op.issuer}/token`,
      grant_types_supported: expect.arrayContaining(['client_credentials']),
      dpop_signing_alg_values_supported: expect.arrayContaining(['ES256']),
    });
    expect(op.jwksUri).toBe(op.discovery.jwks_uri);
    expect(op.caPem).toContain('-----BEGIN CERTIFICATE-----');

    // The certificate also names localhost.
    const viaLocalhost = await httpsRequest(`https://localhost:${op.port}/.well-known/openid-configuration`, { ca: op.caPem });
    expect(viaLocalhost.status).toBe(200);

    await expect(httpsRequest(`${op.issuer}/.well-known/openid-configuration`)).rejects.toMatchObject({
      code: expect.stringMatching(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/),
    });
  });

  it('issues a client-credentials access token: an at+jwt JWT that verifies against the published JWKS', async () => {
    const response = await op.clientCredentialsToken();
    expect(response).toMatchObject({ token_type: 'Bearer', expires_in: 120, scope: 'api:read api:write' });

    const { payload, protectedHeader } = await verify(response.access_token);
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: op.currentKey().kid });
    expect(Object.keys(payload).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub']);
    expect(payload).toMatchObject({ iss: op.issuer, aud: AUDIENCE, sub: 'svc', client_id: 'svc', scope: 'api:read api:write' });
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{10,}$/);

    const other = await op.clientCredentialsToken({ scope: 'api:read', resource: 'https://other.test' });
    const decoded = await jwtVerify(other.access_token, createLocalJWKSet(await jwks()), { audience: 'https://other.test' });
    expect(decoded.payload).toMatchObject({ aud: 'https://other.test', scope: 'api:read' });
    expect(decoded.payload.jti).not.toBe(payload.jti);

    const noScope = await verify((await op.clientCredentialsToken({ scope: '' })).access_token);
    expect(noScope.payload).not.toHaveProperty('scope');
  });

  it('publishes only public keys, each with kid, alg and use', async () => {
    const { keys } = await jwks();
    expect(keys.map((key) => key.kid).sort()).toEqual(op.signingKeys().map((key) => key.kid).sort());
    expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of keys) {
      expect(key.use).toBe('sig');
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(member);
    }
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const refused = op.clientCredentialsToken({ clientSecret: 'wrong-secret' });
    await expect(refused).rejects.toBeInstanceOf(OidcTokenError);
    await expect(refused).rejects.toMatchObject({ status: 401, error: 'invalid_client' });
  });

  it('adds extra claims such as auth_time through extraTokenClaims, but never over the reserved ones', async () => {
    const authTime = Math.floor(Date.now() / 1000) - 600;
    const { access_token } = await op.clientCredentialsToken({ extraClaims: { auth_time: authTime, sub: 'mallory', acr: 'urn:test' } });
    const { payload } = await verify(access_token);
    expect(payload).toMatchObject({ auth_time: authTime, acr: 'urn:test', sub: 'svc' });
  });

  it('signArbitraryToken signs exactly the given claims with the current key', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: op.issuer, aud: AUDIENCE, sub: 'svc', iat, exp: iat + 60, auth_time: iat - 30 };
    const token = op.signArbitraryToken(claims, { typ: 'JWT' });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await jwks()), { typ: 'JWT' });
    expect(payload).toEqual(claims);
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid: op.currentKey('ES256').kid });

    const rsa = op.signArbitraryToken(claims, { alg: 'RS256', typ: undefined });
    const rsaVerified = await jwtVerify(rsa, createLocalJWKSet(await jwks()));
    expect(rsaVerified.protectedHeader).toEqual({ alg: 'RS256', kid: op.currentKey('RS256').kid });
  });

  it('counts JWKS fetches in the provider process, and nothing else', async () => {
    const before = await op.jwksRequestCount();
    await op.request(`${op.issuer}/.well-known/openid-configuration`);
    await op.clientCredentialsToken();
    expect(await op.jwksRequestCount()).toBe(before);
    await jwks();
    await jwks();
    expect(await op.jwksRequestCount()).toBe(before + 2);
  });

  it('binds a token to a DPoP key: token_type DPoP and cnf.jkt = RFC 7638 thumbprint of the proof key', async () => {
    for (const dpopKey of [generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, generateKeyPairSync('ed25519').privateKey]) {
      const response = await op.clientCredentialsToken({ dpopKey });
      expect(response.token_type).toBe('DPoP');
      const { payload } = await verify(response.access_token);
      const jkt = await calculateJwkThumbprint(createPublicKey(dpopKey).export({ format: 'jwk' }) as JWK, 'sha256');
      expect(payload.cnf).toEqual({ jkt });
    }
  });

  it('rotateKeys makes a new kid current, keeps the old key in the JWKS, and retireOld removes it', async () => {
    const oldKid = op.currentKey().kid;
    const oldToken = (await op.clientCredentialsToken()).access_token;

    await op.rotateKeys();
    const newKid = op.currentKey().kid;
    expect(newKid).not.toBe(oldKid);
    const newToken = (await op.clientCredentialsToken()).access_token;
    expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
    const afterRotation = (await jwks()).keys.map((key) => key.kid);
    expect(afterRotation).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(afterRotation).toHaveLength(4);
    // Both verify against the JWKS, each with its own key.
    expect((await verify(oldToken)).protectedHeader.kid).toBe(oldKid);
    expect((await verify(newToken)).protectedHeader.kid).toBe(newKid);

    await op.rotateKeys({ retireOld: true });
    const retired = (await jwks()).keys.map((key) => key.kid);
    expect(retired).toHaveLength(2);
    expect(retired).not.toContain(oldKid);
    expect(retired).not.toContain(newKid);
    await expect(verify(oldToken)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    const latest = (await op.clientCredentialsToken()).access_token;
    expect(decodeProtectedHeader(latest).kid).toBe(op.currentKey().kid);
    expect((await verify(latest)).protectedHeader.kid).toBe(op.currentKey().kid);
  });

  it('stop() ends the child process and frees the port', async () => {
    const other = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT, algorithms: ['RS256'] });
    const { port, pid } = other;
    const { access_token } = await other.clientCredentialsToken();
    expect(decodeProtectedHeader(access_token)).toMatchObject({ alg: 'RS256', kid: other.currentKey('RS256').kid });
    expect(processGone(pid)).toBe(false);

    await other.stop();
    expect(processGone(pid)).toBe(true);
    expect(await portRefuses(port)).toBe(true);
    await other.stop(); // idempotent
  });
});

describe('OidcProvider with DPoP nonces', () => {
  let op: OidcProvider;

  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT, dpopNonce: true, algorithms: ['ES256'] });
  });
  afterAll(() => op?.stop());

  it('answers a proof without nonce with use_dpop_nonce and a DPoP-Nonce header', async () => {
    const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const res = await op.request(op.tokenEndpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        dpop: createDpopProof(dpopKey, { htm: 'POST', htu: op.tokenEndpoint }),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: AUDIENCE }).toString(),
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'use_dpop_nonce' });
    expect(res.headers['dpop-nonce']).toEqual(expect.any(String));
  });

  it('clientCredentialsToken retries with the nonce and gets a DPoP-bound token', async () => {
    const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const response = await op.clientCredentialsToken({ dpopKey });
    expect(response.token_type).toBe('DPoP');
    const { payload } = await jwtVerify(response.access_token, createLocalJWKSet(JSON.parse((await op.request(op.jwksUri)).body) as JSONWebKeySet), {
      issuer: op.issuer,
      audience: AUDIENCE,
    });
    const jkt = await calculateJwkThumbprint(createPublicKey(dpopKey).export({ format: 'jwk' }) as JWK);
    expect(payload.cnf).toEqual({ jkt });
  });
});
