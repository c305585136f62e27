import { register as globalRegistry, Registry } from 'prom-client';
import request from 'supertest';
import { JwtDefenseModule, TokenService } from '@jwt-defense/core';
import { PrometheusDefenseMetrics } from '@jwt-defense/core/prometheus';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS } from './support/demo-app.js';
import { parsePrometheusText, total } from './support/prometheus-text.js';

// `PrometheusDefenseMetrics({ registry })` with the app's own prom-client Registry: the metrics land there, and
// prom-client's global registry gets none of them.

describe.each(ADAPTERS)("Prometheus metrics in the app's own registry over %s", (adapter) => {
  it('records decisions in the given registry and registers nothing in the global one', async () => {
    const registry = new Registry();
    const globalBefore = globalRegistry.getMetricsAsArray().map((metric) => metric.name);
    const app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: false }, metrics: new PrometheusDefenseMetrics({ registry }) })),
      [WhoamiController],
    );
    try {
      const token = (await app.get(TokenService).issue('alice')).token;
      expect((await request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`)).status).toBe(200);
      expect((await request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}x`)).status).toBe(401);
      const samples = parsePrometheusText(await registry.metrics());
      expect(total(samples, 'jwt_defense_decisions_total', { outcome: 'allow', route: '/whoami' })).toBe(1);
      expect(total(samples, 'jwt_defense_decisions_total', { outcome: 'reject', route: '/whoami' })).toBe(1);
      const globalAfter = globalRegistry.getMetricsAsArray().map((metric) => metric.name);
      expect(globalAfter.filter((name) => name.startsWith('jwt_defense_'))).toEqual(globalBefore.filter((name) => name.startsWith('jwt_defense_')));
      expect(globalAfter.some((name) => name.startsWith('jwt_defense_'))).toBe(false);
    } finally {
      await app.close();
    }
  });
});
