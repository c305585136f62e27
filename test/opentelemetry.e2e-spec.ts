import type { INestApplication } from '@nestjs/common';
import { trace, type Attributes } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import request from 'supertest';
import { JwtDefenseModule, TokenService } from '@jwt-defense/core';
import { OpenTelemetryDefenseMetrics } from '@jwt-defense/core/opentelemetry';
import { fixtureOptions, OrdersController, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS } from './support/demo-app.js';

// `OpenTelemetryDefenseMetrics` in a real app, with the OpenTelemetry SDK's in-memory span exporter (through the global
// tracer provider, as the Node SDK registers it) and a metric reader collected on demand (given as `meterProvider`):
// a span per request with the decision, the layer and the code, never the token's content; the counters as metrics.

/** A reader the test collects when it wants (the SDK's pull path, as a Prometheus exporter's scrape). */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** The data points of one metric, by the metric's name. */
function points(collected: ResourceMetrics, name: string): Array<DataPoint<unknown>> {
  const metric = collected.scopeMetrics.flatMap((scope) => scope.metrics).find((candidate) => candidate.descriptor.name === name);
  return (metric?.dataPoints ?? []) as Array<DataPoint<unknown>>;
}

const valueOf = (list: Array<DataPoint<unknown>>, attributes: Attributes) =>
  list.find((point) => JSON.stringify(point.attributes) === JSON.stringify(attributes))?.value;

describe.each(ADAPTERS)('OpenTelemetry spans and metrics over %s', (adapter) => {
  const exporter = new InMemorySpanExporter();
  const reader = new CollectingReader();
  let app: INestApplication;
  let token: string;
  let jti: string;
  const answers: Record<string, { status: number; code?: string }> = {};

  beforeAll(async () => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const meterProvider = new MeterProvider({ readers: [reader] });
    app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(
        fixtureOptions({ revocation: { cleanupCron: false }, throttle: { user: { limit: 1, ttlMs: 60_000 } }, metrics: new OpenTelemetryDefenseMetrics({ meterProvider }) }),
      ),
      [WhoamiController, OrdersController],
    );
    const issued = await app.get(TokenService).issue('alice');
    token = issued.token;
    jti = issued.jti;
    const server = app.getHttpServer();
    const answer = async (name: string, call: request.Test) => {
      const response = await call;
      answers[name] = { status: response.status, code: (response.body as { code?: string }).code };
    };
    // One request at a time, so that spans come in this order.
    await answer('public', request(server).get('/orders/catalog'));
    // The token's own header and claims, signed by nobody (`alg: none`): a rule of the pre-filter refuses it.
    const [header, claims] = token.split('.');
    const unsigned = { ...(JSON.parse(Buffer.from(header, 'base64url').toString()) as object), alg: 'none' };
    await answer('forged', request(server).get('/whoami').set('Authorization', `Bearer ${Buffer.from(JSON.stringify(unsigned)).toString('base64url')}.${claims}.`));
    await answer('allowed', request(server).get('/whoami').set('Authorization', `Bearer ${token}`));
    await answer('limited', request(server).get('/whoami').set('Authorization', `Bearer ${token}`));
  });

  afterAll(async () => {
    await app?.close();
    trace.disable();
  });

  it('records a span per request with the decision, the refusing layer and the code, and nothing of the token', () => {
    expect(answers).toEqual({
      public: { status: 200 },
      forged: { status: 401, code: 'algorithm_not_allowed' },
      allowed: { status: 200 },
      limited: { status: 429, code: 'rate_limited' },
    });
    const spans: ReadableSpan[] = exporter.getFinishedSpans().filter((span) => span.name === 'jwt_defense.request');
    expect(spans.map((span) => span.attributes)).toEqual([
      { 'jwt_defense.decision': 'allow', 'jwt_defense.layer': 'throttle', 'http.route': '/orders/catalog' },
      { 'jwt_defense.decision': 'reject', 'jwt_defense.layer': 'token', 'jwt_defense.code': 'algorithm_not_allowed', 'jwt_defense.reason': 'alg_none', 'http.route': '/whoami' },
      { 'jwt_defense.decision': 'allow', 'jwt_defense.layer': 'authorization', 'http.route': '/whoami' },
      { 'jwt_defense.decision': 'reject', 'jwt_defense.layer': 'throttle', 'jwt_defense.code': 'rate_limited', 'http.route': '/whoami' },
    ]);
    // Each span lasts the pipeline's run: from its start (given to the SDK) to its decision, in this test's window.
    for (const span of spans) {
      const startMs = span.startTime[0] * 1000 + span.startTime[1] / 1e6;
      const endMs = span.endTime[0] * 1000 + span.endTime[1] / 1e6;
      expect(endMs).toBeGreaterThanOrEqual(startMs);
      expect(endMs - startMs).toBeLessThan(5_000);
      expect(Math.abs(Date.now() - startMs)).toBeLessThan(60_000);
    }
    const values = JSON.stringify(spans.map((span) => span.attributes));
    for (const secret of [token, ...token.split('.'), 'alice', jti]) expect(values).not.toContain(secret);
  });

  it('reports the counters as OpenTelemetry metrics, with bounded attributes', async () => {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const decisions = points(resourceMetrics, 'jwt_defense.decisions');
    expect(valueOf(decisions, { layer: 'authorization', outcome: 'allow', route: '/whoami' })).toBe(1);
    expect(valueOf(decisions, { layer: 'token', outcome: 'reject', code: 'algorithm_not_allowed', route: '/whoami' })).toBe(1);
    expect(valueOf(decisions, { layer: 'throttle', outcome: 'reject', code: 'rate_limited', route: '/whoami' })).toBe(1);
    expect(decisions).toHaveLength(3);
    // Misses: the unsigned token and the valid one's first use; then the valid one was found in the cache.
    const lookups = points(resourceMetrics, 'jwt_defense.token_cache_lookups');
    expect(valueOf(lookups, { result: 'miss' })).toBe(2);
    expect(valueOf(lookups, { result: 'hit' })).toBe(1);
    expect(valueOf(points(resourceMetrics, 'jwt_defense.lockdown'), { mode: 'off' })).toBe(1);
    // Two authenticated requests made the ONE store call each.
    expect((valueOf(points(resourceMetrics, 'jwt_defense.store_call_duration'), { operation: 'check' }) as { count: number }).count).toBe(2);
    const attributes = JSON.stringify(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.flatMap((metric) => metric.dataPoints.map((point) => point.attributes))));
    for (const secret of [token, ...token.split('.'), 'alice', jti]) expect(attributes).not.toContain(secret);
  });
});
