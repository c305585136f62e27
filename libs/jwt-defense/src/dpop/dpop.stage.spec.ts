import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Test, type TestingModule } from '@nestjs/testing';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { createDpopProof } from '../../../../test/support/oidc-provider.js';
import { DpopProofException } from '../errors/defense.exceptions.js';
import { JwtDefenseModule } from '../jwt-defense.module.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { DPOP_PART } from './dpop.check-part.js';
import type { DpopOptions } from './dpop.options.js';
import { DpopStage } from './dpop.stage.js';

const ORIGIN = 'https://api.test';
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const thumbprint = (key: KeyObject) => calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as JWK, 'sha256');

describe('DpopStage', () => {
  let moduleRef: TestingModule | undefined;
  afterEach(() => moduleRef?.close());

  const stageWith = async (dpop: Partial<DpopOptions>) => {
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: { issuer: 'i', audience: 'a', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
          revocation: { cleanupCron: false },
          dpop: { publicUrl: ORIGIN, ...dpop },
        }),
      ],
    }).compile();
    return moduleRef.get(DpopStage);
  };
  const request = (dpop?: string): IncomingMessage => {
    const headers: Record<string, string> = dpop === undefined ? {} : { dpop };
    return { method: 'GET', url: '/me?x=1', headers, rawHeaders: Object.entries(headers).flat() } as unknown as IncomingMessage;
  };
  const context = (jkt: string | undefined, dpop?: string) => ({ principal: { sub: 'alice', jkt }, request: request(dpop) }) as unknown as PipelineContext;
  /** The refusal of a verification (thrown at once for an unbound token, rejected once a proof was checked). */
  const reasonOf = async (verify: () => void | Promise<void>) => {
    const error = await Promise.resolve().then(verify).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(DpopProofException);
    const refused = error as DpopProofException;
    return { status: refused.getStatus(), challenge: refused.challengeError, reason: refused.reason };
  };
  /** The one call's answer with this DPoP part's result. */
  const answer = (replayed: boolean): DefenseCheckResult => ({ [DPOP_PART.name]: { replayed } });

  describe('an unbound token (no cnf.jkt)', () => {
    it('as Bearer passes when DPoP is allowed, and adds nothing to the store call', async () => {
      const stage = await stageWith({ mode: 'allowed' });
      const ctx = context(undefined);
      await expect(Promise.resolve().then(() => stage.verify(ctx, 'Bearer', 'token'))).resolves.toBeUndefined();
      const check: DefenseCheckRequest = { tag: 't', sub: 'alice', parts: {} };
      stage.prepare(ctx, check);
      expect(partResult(check.parts, DPOP_PART)).toBeUndefined();
    });

    it('as Bearer is refused when DPoP is required (invalid_token challenge)', async () => {
      const stage = await stageWith({ mode: 'required' });
      expect(await reasonOf(() => stage.verify(context(undefined), 'Bearer', 'token'))).toEqual({ status: 401, challenge: 'invalid_token', reason: 'dpop_required' });
    });

    it('with the DPoP scheme is refused: nothing binds it to the proof', async () => {
      const stage = await stageWith({ mode: 'allowed' });
      const key = ecKey();
      const proof = createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'token' });
      expect(await reasonOf(() => stage.verify(context(undefined, proof), 'DPoP', 'token'))).toEqual({ status: 401, challenge: 'invalid_token', reason: 'unbound_token_as_dpop' });
    });
  });

  describe('a bound token (cnf.jkt)', () => {
    it('with the DPoP scheme and a proof by its key passes; the proof goes into the store call for the replay check', async () => {
      const stage = await stageWith({ mode: 'allowed', proofWindowSec: 60 });
      const key = ecKey();
      const ctx = context(await thumbprint(key), createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'token' }));
      await expect(Promise.resolve().then(() => stage.verify(ctx, 'DPoP', 'token'))).resolves.toBeUndefined();
      const check: DefenseCheckRequest = { tag: 't', sub: 'alice', parts: {} };
      stage.prepare(ctx, check);
      expect(partResult(check.parts, DPOP_PART)).toEqual({ key: expect.stringMatching(/^[\w-]{22}$/), ttlMs: 121_000 });
      expect(() => stage.decide(ctx, answer(false))).not.toThrow();
    });

    it('is refused when the store says the proof was seen before (replay)', async () => {
      const stage = await stageWith({ mode: 'allowed' });
      const key = ecKey();
      const ctx = context(await thumbprint(key), createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'token' }));
      await stage.verify(ctx, 'DPoP', 'token');
      let error: unknown;
      try {
        stage.decide(ctx, answer(true));
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(DpopProofException);
      expect((error as DpopProofException).reason).toBe('replay');
    });

    it.each<[string, (key: KeyObject) => string | undefined, 'Bearer' | 'DPoP', string]>([
      ['sent as Bearer, even with a valid proof', (key) => createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'token' }), 'Bearer', 'bound_token_as_bearer'],
      ['with a proof by another key', () => createDpopProof(ecKey(), { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'token' }), 'DPoP', 'key_mismatch'],
      ['without a proof', () => undefined, 'DPoP', 'proof_missing'],
      ['with a proof for another token (ath)', (key) => createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'other' }), 'DPoP', 'proof_ath'],
      ['with a proof for another URL', (key) => createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/other`, accessToken: 'token' }), 'DPoP', 'proof_htu'],
    ])('is refused %s', async (_name, proofOf, scheme, reason) => {
      const stage = await stageWith({ mode: 'allowed' });
      const key = ecKey();
      const ctx = context(await thumbprint(key), proofOf(key));
      expect(await reasonOf(() => stage.verify(ctx, scheme, 'token'))).toMatchObject({ status: 401, reason });
      // A refused request leaves nothing for the store call.
      const check: DefenseCheckRequest = { tag: 't', sub: 'alice', parts: {} };
      stage.prepare(ctx, check);
      expect(partResult(check.parts, DPOP_PART)).toBeUndefined();
    });

    it('is refused when DPoP is off: a bound token cannot be honoured', async () => {
      const stage = await stageWith({ mode: 'off' });
      const key = ecKey();
      const ctx = context(await thumbprint(key), createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: 'token' }));
      expect(await reasonOf(() => stage.verify(ctx, 'DPoP', 'token'))).toEqual({ status: 401, challenge: 'invalid_token', reason: 'dpop_off' });
    });
  });
});
