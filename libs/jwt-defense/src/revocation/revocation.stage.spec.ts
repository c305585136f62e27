import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { InvalidTokenException } from '../errors/defense.exceptions.js';
import { JwtDefenseModule } from '../jwt-defense.module.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import type { DefenseCheckRequest, DefenseCheckResult } from '../store/check-part.js';
import { REVOCATION_PART, type RevocationFacts } from './revocation.check-part.js';
import { RevocationService } from './revocation.service.js';
import { RevocationStage } from './revocation.stage.js';

describe('RevocationStage', () => {
  let moduleRef: TestingModule;
  let stage: RevocationStage;
  let revocation: RevocationService;
  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: {
            issuer: 'i',
            audience: 'a',
            keys: [
              { kid: 'new', algorithms: ['HS256'], secret: randomBytes(32) },
              { kid: 'old', algorithms: ['HS256'], secret: randomBytes(32) },
            ],
            signingKid: 'new',
          },
          revocation: { cleanupCron: false },
        }),
      ],
    }).compile();
    await moduleRef.init();
    stage = moduleRef.get(RevocationStage);
    revocation = moduleRef.get(RevocationService);
  });
  afterEach(() => moduleRef.close());

  const context = (kid: string, issuedAtMs: number) => ({ principal: { kid }, identity: { tag: 't', authenticatedAtMs: issuedAtMs } }) as unknown as PipelineContext;
  const clean: RevocationFacts = { jtiRevoked: false, sessionRevoked: false, userNotBeforeMs: 0 };
  /** The one call's answer with this revocation part's result. */
  const answer = (facts: RevocationFacts): DefenseCheckResult => ({ [REVOCATION_PART.name]: facts });
  const check = (): DefenseCheckRequest => ({ tag: 't', sub: 's', parts: {} });

  it('refuses from memory (before the store call) a retired key or a token issued at or before the global epoch', async () => {
    await revocation.retireKey('old', 'leak');
    await revocation.revokeAllIssuedBefore(5000, 'incident');
    expect(() => stage.prepare(context('old', Date.now()), check())).toThrow(InvalidTokenException);
    expect(() => stage.prepare(context('new', 5000), check())).toThrow(InvalidTokenException);
    expect(() => stage.prepare(context('new', 5001), check())).not.toThrow();
  });

  it.each<[string, Partial<RevocationFacts>]>([
    ['a denylisted jti', { jtiRevoked: true }],
    ['a revoked session', { sessionRevoked: true }],
    ['a user epoch at or after its issue time', { userNotBeforeMs: 6000 }],
  ])('refuses %s with 401 token_revoked', (_name, result) => {
    expect(() => stage.decide(context('new', 6000), answer({ ...clean, ...result }))).toThrow(expect.objectContaining({ code: 'token_revoked' }));
  });

  it('lets an active token through', () => {
    expect(() => stage.decide(context('new', 6000), answer({ ...clean, userNotBeforeMs: 5999 }))).not.toThrow();
  });
});
