import request from 'supertest';
import { JwtDefenseModule, SecurityEventService, TokenService, type SecurityEvent } from '@jwt-defense/core';
import { BackgroundWrites } from '../libs/jwt-defense/src/common/background-writes.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { RiskPolicyController } from './fixtures/risk-policy.controller.js';
import { ADAPTERS } from './support/demo-app.js';

// Issue 12: `@DefensePolicy({ risk })` per controller and per handler, and monitor mode per policy: the same risky
// context (a new country on an unknown device) gets a different decision on each route.

describe.each(ADAPTERS)('per-route context-risk policies over %s', (adapter) => {
  it('one risky context: 200 monitored with an event, 403 on the strict controller policy, a step-up, 200 lenient', async () => {
    const app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(
        fixtureOptions({
          revocation: { cleanupCron: false },
          // Module defaults that would deny everything risky; impossible travel off so the score is exactly 0.7.
          risk: { mode: 'enforce', stepUpAt: 0.1, denyAt: 0.2, weights: { impossibleTravel: 0 }, countryResolver: { resolve: (req) => req.headers['x-test-country'] as string | undefined } },
        }),
      ),
      [RiskPolicyController],
    );
    const events: SecurityEvent[] = [];
    app.get(SecurityEventService).events$.subscribe((event) => events.push(event));
    try {
      const token = (await app.get(TokenService).issue('alice')).token;
      const from = (path: string, country: string, device: string) =>
        request(app.getHttpServer()).get(`/risk/${path}`).set('Authorization', `Bearer ${token}`).set('X-Test-Country', country).set('X-Device-Id', device);
      // Trust on first use: FR on the laptop is learned.
      expect((await from('strict', 'FR', 'laptop')).status).toBe(200);
      await app.get(BackgroundWrites).settle();
      expect((await from('strict', 'FR', 'laptop')).status).toBe(200);

      // Monitor mode on this handler: scored against the module's thresholds (deny), recorded, answered 200. (First:
      // risk events are sampled per user and decision, so the strict route's denial below is folded into this one.)
      expect((await from('monitored', 'BR', 'phone')).status).toBe(200);
      expect(events.filter((event) => event.type.startsWith('risk_'))).toEqual([
        expect.objectContaining({ type: 'risk_denied', sub: 'alice', details: expect.objectContaining({ route: '/risk/monitored', mode: 'monitor', score: 0.7 }) }),
      ]);
      const strict = await from('strict', 'BR', 'phone');
      expect([strict.status, strict.body.code]).toEqual([403, 'risk_denied']);
      const stepUp = await from('step-up', 'BR', 'phone');
      expect([stepUp.status, stepUp.body.code]).toEqual([401, 'insufficient_user_authentication']);
      expect(stepUp.headers['www-authenticate']).toBe('Bearer realm="api", error="insufficient_user_authentication", max_age="0"');
      expect(events.filter((event) => event.details?.route === '/risk/step-up').map((event) => event.type)).toEqual(['risk_step_up']);
      expect((await from('lenient', 'BR', 'phone')).status).toBe(200);
      expect(events.filter((event) => event.details?.route === '/risk/lenient')).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
