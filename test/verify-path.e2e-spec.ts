import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { JwtDefenseModule, TokenService, type DefenseMetricsSink } from '@jwt-defense/core';
import { AccessTokenVerifier } from '../libs/jwt-defense/src/issuers/access-token.verifier.js';
import { startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS } from './support/demo-app.js';
import { signJws } from './support/jws.js';
import { createDpopProof, issueCertificates } from './support/oidc-provider.js';

// #21 P4: one verify path. This module's tokens and an external issuer's are verified by one function (the issuer's
// key resolver is the only thing that differs) with one signature backend, and cached in one cache, which
// TokenService.verify shares; DPoP proofs are still verified on every request.

// The library's own `import { verify } from 'node:crypto'` reads this very object at each call.
const nodeCrypto = require('node:crypto') as typeof import('node:crypto');

const ISSUER = 'https://127.0.0.1';
const AUDIENCE = 'https://api.test';
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

describe.each(ADAPTERS)('one verify path over %s', (adapter) => {
  let dir: string;
  let server: Server;
  let app: INestApplication;
  const lookups: boolean[] = [];
  const metrics: DefenseMetricsSink = { decision: () => undefined, storeCall: () => undefined, cacheLookup: (hit) => lookups.push(hit) };
  const externalKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'verify-path-'));
    const certs = issueCertificates(dir);
    const jwks = { keys: [{ ...createPublicKey(externalKey).export({ format: 'jwk' }), kid: 'ext-1', alg: 'RS256', use: 'sig' }] };
    server = createServer({ key: readFileSync(certs.keyFile), cert: readFileSync(certs.certFile) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const jwksUri = `https://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot({
        token: { issuer: 'own', audience: AUDIENCE, keys: [{ kid: 'own-es', algorithms: ['ES256'], privateKey: ecKey() }] },
        issuers: [{ issuer: ISSUER, audience: AUDIENCE, jwksUri, ca: readFileSync(certs.caFile, 'utf8') }],
        dpop: { publicUrl: 'https://api.test' },
        revocation: { cleanupCron: false },
        metrics,
      }),
      [WhoamiController],
    );
  }, 30_000);
  afterAll(async () => {
    await app?.close();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    lookups.length = 0;
  });
  afterEach(() => jest.restoreAllMocks());

  const whoami = (token: string, scheme = 'Bearer', dpop?: string) => {
    const req = request(app.getHttpServer()).get('/whoami').set('Authorization', `${scheme} ${token}`);
    return dpop ? req.set('DPoP', dpop) : req;
  };
  const externalToken = () => {
    const now = Math.floor(Date.now() / 1000);
    return signJws({ alg: 'RS256', typ: 'at+jwt', kid: 'ext-1' }, { iss: ISSUER, aud: AUDIENCE, sub: 'ext-user', iat: now, exp: now + 300 }, externalKey, 'RS256');
  };

  it("this module's token and an external issuer's go through one function, one signature backend and one cache, which TokenService.verify shares", async () => {
    const tokens = app.get(TokenService);
    const ring = jest.spyOn(tokens.keyResolver, 'key');
    const partner = jest.spyOn(app.get(AccessTokenVerifier).externalIssuers.get(ISSUER)!, 'key');
    const signatures = jest.spyOn(nodeCrypto, 'verify');
    const own = (await tokens.issue('alice')).token;
    const theirs = externalToken();

    for (const [token, issuer] of [[own, 'own'], [theirs, ISSUER]]) {
      for (let i = 0; i < 2; i++) {
        const res = await whoami(token);
        expect({ status: res.status, issuer: res.body.issuer }).toEqual({ status: 200, issuer });
      }
    }
    // Each issuer's resolver asked once, each signature checked once (node:crypto for both: ES256 and RS256), each
    // repeat served by the one cache.
    expect(lookups).toEqual([false, true, false, true]);
    expect([ring.mock.calls.length, partner.mock.calls.length, signatures.mock.calls.length]).toEqual([1, 1, 2]);

    // TokenService.verify is the same path with the same cache: a hit, no key asked, no signature checked.
    await expect(tokens.verify(own)).resolves.toMatchObject({ sub: 'alice', issuer: 'own' });
    expect(lookups).toEqual([false, true, false, true, true]);
    expect([ring.mock.calls.length, signatures.mock.calls.length]).toEqual([1, 2]);
    // ...and it verifies this module's tokens only: the external token, cached, is not handed to it.
    await expect(tokens.verify(theirs)).rejects.toMatchObject({ code: 'algorithm_not_allowed' });
  });

  it("a forged signature is refused for either issuer, and the refusal is never cached", async () => {
    const own = (await app.get(TokenService).issue('alice')).token;
    for (const token of [own, externalToken()]) {
      const [h, p, s] = token.split('.');
      const forged = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
      for (let i = 0; i < 2; i++) {
        const res = await whoami(forged);
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 401, code: 'signature_invalid' });
      }
    }
    expect(lookups).toEqual([false, false, false, false]);
  });

  it('DPoP proofs are verified on every request of a bound token, the token itself coming from the cache', async () => {
    const key = ecKey();
    const jkt = await calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as JWK, 'sha256');
    const token = (await app.get(TokenService).issue('alice', { cnf: { jkt } })).token;
    const proof = (signer: KeyObject = key) => createDpopProof(signer, { htm: 'GET', htu: 'https://api.test/whoami', accessToken: token });
    for (let i = 0; i < 2; i++) {
      const res = await whoami(token, 'DPoP', proof());
      expect({ status: res.status, jkt: res.body.jkt }).toEqual({ status: 200, jkt });
    }
    expect(lookups).toEqual([false, true]);
    // With the token cached: a proof by another key, a replayed proof, no proof are refused as before.
    const once = proof();
    expect((await whoami(token, 'DPoP', once)).status).toBe(200);
    for (const [name, dpop] of [['another key', proof(ecKey())], ['replayed', once], ['none', undefined]] as const) {
      const res = await whoami(token, 'DPoP', dpop);
      expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 401, code: 'invalid_dpop_proof' });
    }
    expect(lookups.every((hit, index) => hit === (index > 0))).toBe(true);
  });
});
