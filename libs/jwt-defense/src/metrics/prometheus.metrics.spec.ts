import { Histogram, Registry } from 'prom-client';
import { OneLabelHistogram } from './one-label-histogram.js';
import { PrometheusDefenseMetrics } from './prometheus.metrics.js';

/** The value of one sample line of an exposition (`name{labels} value`). */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((candidate) => candidate.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('OneLabelHistogram', () => {
  it("exposes exactly what prom-client's own histogram exposes for the same observations", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const buckets = [0.0005, 0.001, 0.01, 1];
    const histogram = new Histogram({ name: 'h_seconds', help: 'help', labelNames: ['operation'], buckets, registers: [theirs] });
    const one = new OneLabelHistogram('h_seconds', 'help', 'operation', buckets, ours);
    const observations: Array<[string, number]> = [['check', 0.0002], ['check', 0.0005], ['check', 0.004], ['hit', 0.3], ['check', 7], ['hit', 0.001]];
    for (const [operation, value] of observations) {
      histogram.observe({ operation }, value);
      one.record(operation, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});

describe('PrometheusDefenseMetrics', () => {
  it('counts allowed requests and cache lookups on the hot path and adds them when the registry is read, once each', async () => {
    const registry = new Registry();
    const first = new PrometheusDefenseMetrics({ registry });
    const second = new PrometheusDefenseMetrics({ registry }); // two modules sharing one registry
    for (let i = 0; i < 3; i++) first.decision({ layer: 'authorization', outcome: 'allow', route: '/me' });
    second.decision({ layer: 'authorization', outcome: 'allow', route: '/me' });
    second.decision({ layer: 'authorization', outcome: 'allow', route: '/orders/:id' });
    first.decision({ layer: 'token', outcome: 'reject', code: 'signature_invalid', route: '/me' });
    first.cacheLookup(true);
    second.cacheLookup(true);
    first.cacheLookup(false);
    const allowMe = 'jwt_defense_decisions_total{layer="authorization",outcome="allow",code="",route="/me"}';
    let text = await registry.metrics();
    expect(sample(text, allowMe)).toBe(4);
    expect(sample(text, 'jwt_defense_decisions_total{layer="authorization",outcome="allow",code="",route="/orders/:id"}')).toBe(1);
    expect(sample(text, 'jwt_defense_decisions_total{layer="token",outcome="reject",code="signature_invalid",route="/me"}')).toBe(1);
    expect(sample(text, 'jwt_defense_token_cache_lookups_total{result="hit"}')).toBe(2);
    expect(sample(text, 'jwt_defense_token_cache_lookups_total{result="miss"}')).toBe(1);
    // A second read adds only what came since.
    first.decision({ layer: 'authorization', outcome: 'allow', route: '/me' });
    text = await registry.metrics();
    expect(sample(text, allowMe)).toBe(5);
    expect(sample(text, 'jwt_defense_token_cache_lookups_total{result="hit"}')).toBe(2);
  });

  it('keeps the route label bounded for counts added at read time (beyond maxRoutes: other)', async () => {
    const registry = new Registry();
    const metrics = new PrometheusDefenseMetrics({ registry, maxRoutes: 2 });
    for (const route of ['/a', '/b', '/c', '/d']) metrics.decision({ layer: 'authorization', outcome: 'allow', route });
    const text = await registry.metrics();
    expect(sample(text, 'jwt_defense_decisions_total{layer="authorization",outcome="allow",code="",route="other"}')).toBe(2);
    expect(sample(text, 'jwt_defense_decisions_total{layer="authorization",outcome="allow",code="",route="/c"}')).toBeUndefined();
  });

  it('records store call durations and risk scores in histograms the registry exposes', async () => {
    const registry = new Registry();
    const metrics = new PrometheusDefenseMetrics({ registry });
    metrics.storeCall('check', 0.3, false);
    metrics.storeCall('check', 4, true);
    metrics.riskScore(0.95, 'deny');
    const text = await registry.metrics();
    expect(sample(text, 'jwt_defense_store_call_duration_seconds_count{operation="check"}')).toBe(2);
    expect(sample(text, 'jwt_defense_store_call_duration_seconds_bucket{le="0.0005",operation="check"}')).toBe(1);
    expect(sample(text, 'jwt_defense_store_failures_total{operation="check"}')).toBe(1);
    expect(sample(text, 'jwt_defense_risk_score_bucket{le="0.9",decision="deny"}')).toBe(0);
    expect(sample(text, 'jwt_defense_risk_score_count{decision="deny"}')).toBe(1);
  });
});
