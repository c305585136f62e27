import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { InvalidTokenException, StepUpRequiredException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import type { SecurityEvent } from '../events/security-event.js';
import { JwtDefenseModule } from '../jwt-defense.module.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { RequestCheckStore, type AnomalyResult } from '../store/defense-store.ports.js';
import { checkToken } from '../store/contract/token-check.js';
import { ANOMALY_PART, STEP_UP_PART } from './anomaly.check-part.js';
import { userTag } from '../token/token-ids.js';
import type { AnomalyContainment } from './anomaly.options.js';
import { AnomalyStage } from './anomaly.stage.js';
import type { LayerMode } from '../risk/risk.options.js';

const SUB = 'alice';
const NOW = Date.UTC(2026, 2, 4, 10, 30);

describe('AnomalyStage', () => {
  let moduleRef: TestingModule;
  let stage: AnomalyStage;
  let store: RequestCheckStore;
  let events: SecurityEvent[];

  beforeEach(async () => {
    jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: { issuer: 'i', audience: 'a', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
          revocation: { cleanupCron: false },
          anomaly: { mode: 'enforce', intervalSec: 60, warmupIntervals: 3, factor: 3, minRequests: 5 },
        }),
      ],
    }).compile();
    await moduleRef.init();
    stage = moduleRef.get(AnomalyStage);
    store = moduleRef.get(RequestCheckStore);
    events = [];
    moduleRef.get(SecurityEventService).events$.subscribe((event) => events.push(event));
  });
  afterEach(async () => {
    await moduleRef.close();
    jest.useRealTimers();
  });

  const context = (mode: LayerMode, containment: AnomalyContainment = 'none', authenticatedAtMs = NOW - 60_000) =>
    ({
      route: { template: '/orders/:id', routeId: 'r1', anomaly: { mode, containment } },
      clientIp: '203.0.113.7',
      principal: { sub: SUB },
      identity: { subject: SUB, tag: userTag(SUB), authenticatedAtMs },
    }) as unknown as PipelineContext;
  /** The one call's answer with this layer's parts' results. */
  const answer = (anomaly?: AnomalyResult, stepUpBeforeMs = 0): DefenseCheckResult => ({ ...(anomaly ? { [ANOMALY_PART.name]: anomaly } : {}), [STEP_UP_PART.name]: { stepUpBeforeMs } });
  const alert: AnomalyResult = { count: 31, baseline: 10, intervals: 4, alerted: true };
  const quiet: AnomalyResult = { count: 31, baseline: 10, intervals: 4, alerted: false };
  const refusal = async (ctx: PipelineContext, result: DefenseCheckResult) => {
    try {
      await stage.decide(ctx, result);
    } catch (error) {
      return error;
    }
    return undefined;
  };
  /** What the store now says about the user (its epochs), read as a request would. */
  const userState = () => checkToken(store, { tag: userTag(SUB), sub: SUB, jti: 'j', stepUp: true, authenticatedAtMs: NOW - 60_000 });

  it("prepare counts the request under the route's id (not its URL) with the module's baseline settings and reads the step-up epoch; off adds nothing", () => {
    const check: DefenseCheckRequest = { tag: userTag(SUB), sub: SUB, parts: {} };
    stage.prepare(context('monitor'), check);
    expect(partResult(check.parts, ANOMALY_PART)).toMatchObject({ route: 'r1', intervalMs: 60_000, warmupIntervals: 3, factor: 3, minRequests: 5, nowMs: NOW });
    expect(partResult(check.parts, STEP_UP_PART)).toBe(true);
    const off: DefenseCheckRequest = { tag: userTag(SUB), sub: SUB, parts: {} };
    stage.prepare(context('off'), off);
    expect(off).toEqual({ tag: userTag(SUB), sub: SUB, parts: {} });
  });

  it('a token authenticated at or before the step-up epoch (set by a containment) needs a new login; one after it passes', async () => {
    expect(await refusal(context('enforce', 'none', NOW - 5000), answer(quiet, NOW - 5000))).toBeInstanceOf(StepUpRequiredException);
    expect(await refusal(context('enforce', 'none', NOW - 4999), answer(quiet, NOW - 5000))).toBeUndefined();
  });

  it('no alert: nothing recorded, nothing refused', async () => {
    expect(await refusal(context('enforce', 'revoke'), answer(quiet))).toBeUndefined();
    expect(await refusal(context('enforce', 'revoke'), answer(undefined))).toBeUndefined();
    expect(events).toEqual([]);
  });

  it('an alert in monitor mode: one anomaly_detected event with the count and baseline, no containment', async () => {
    expect(await refusal(context('monitor', 'revoke'), answer(alert))).toBeUndefined();
    expect(events).toEqual([
      expect.objectContaining({
        type: 'anomaly_detected',
        sub: SUB,
        details: { route: '/orders/:id', count: 31, baseline: 10, intervals: 4, mode: 'monitor', containment: 'none' },
      }),
    ]);
    expect(await userState()).toMatchObject({ userNotBeforeMs: 0, stepUpBeforeMs: 0 });
  });

  it('an alert in enforce mode without containment: recorded, allowed', async () => {
    expect(await refusal(context('enforce', 'none'), answer(alert))).toBeUndefined();
    expect(events.map((event) => [event.type, event.details?.containment])).toEqual([['anomaly_detected', 'none']]);
  });

  it("an alert with containment step-up: the user's step-up epoch is raised and the request is refused with a step-up", async () => {
    expect(await refusal(context('enforce', 'step-up'), answer(alert))).toBeInstanceOf(StepUpRequiredException);
    expect(events.map((event) => [event.type, event.details?.containment])).toEqual([['anomaly_detected', 'step-up']]);
    expect((await userState()).stepUpBeforeMs).toBe(NOW);
  });

  it("an alert with containment revoke: every token of the user is revoked and the request is refused as token_revoked", async () => {
    const refused = await refusal(context('enforce', 'revoke'), answer(alert));
    expect(refused).toBeInstanceOf(InvalidTokenException);
    expect((refused as InvalidTokenException).code).toBe('token_revoked');
    expect((await userState()).userNotBeforeMs).toBe(NOW);
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['anomaly_detected', 'user_revoked']));
  });
});
