import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { JwtDefenseModule } from '@jwt-defense/core';
import { TokenVerificationError } from '../libs/jwt-defense/src/errors/defense.exceptions.js';
import { AccessTokenVerifier } from '../libs/jwt-defense/src/issuers/access-token.verifier.js';
import { signJws } from './support/jws.js';
import { issueCertificates } from './support/oidc-provider.js';

// L2 of the third review, for remote keys: an external issuer's JWKS key outside the bounds (an RSA exponent other
// than 65537, a modulus under 2048 bits) is never used to verify, whatever the token says; a key within them is.
// The JWKS is served over real TLS by a local https server, as a provider would.

const ISSUER = 'https://127.0.0.1';
const AUDIENCE = 'https://api.test';

describe('keys of an external issuer outside the bounds', () => {
  let dir: string;
  let server: Server;
  let moduleRef: TestingModule;
  const keys: Record<string, KeyObject> = {
    'small-exponent': generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey,
    'short-modulus': generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
    good: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jwk-bounds-'));
    const certs = issueCertificates(dir);
    const jwks = { keys: Object.entries(keys).map(([kid, key]) => ({ ...createPublicKey(key).export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' })) };
    server = createServer({ key: readFileSync(certs.keyFile), cert: readFileSync(certs.certFile) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: { issuer: 'own', audience: 'own', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
          issuers: [{ issuer: ISSUER, audience: AUDIENCE, jwksUri: `https://127.0.0.1:${port}/jwks`, ca: readFileSync(certs.caFile, 'utf8') }],
          revocation: { cleanupCron: false },
        }),
      ],
    }).compile();
    await moduleRef.init();
  });
  afterAll(async () => {
    await moduleRef?.close();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const tokenSignedBy = (kid: string) => {
    const now = Math.floor(Date.now() / 1000);
    return signJws({ alg: 'RS256', typ: 'at+jwt', kid }, { iss: ISSUER, aud: AUDIENCE, sub: 'ext-user', iat: now, exp: now + 300 }, keys[kid], 'RS256');
  };
  const refusal = (token: string) =>
    Promise.resolve()
      .then(() => moduleRef.get(AccessTokenVerifier).verify(token))
      .then(() => undefined, (error: unknown) => error);

  it.each([
    ['small-exponent', 'jwk_rsa_exponent'],
    ['short-modulus', 'jwk_rsa_modulus'],
  ])('a token signed by the %s key is refused as signature_invalid before its signature is checked (%s)', async (kid, reason) => {
    const error = await refusal(tokenSignedBy(kid));
    expect(error).toBeInstanceOf(TokenVerificationError);
    expect(error).toMatchObject({ code: 'signature_invalid', reason });
  });

  it("a token signed by the issuer's key within the bounds verifies", async () => {
    await expect(Promise.resolve(moduleRef.get(AccessTokenVerifier).verify(tokenSignedBy('good')))).resolves.toMatchObject({ sub: 'ext-user', issuer: ISSUER });
  });
});
