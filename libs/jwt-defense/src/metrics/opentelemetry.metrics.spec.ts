import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { OpenTelemetryDefenseMetrics } from './opentelemetry.metrics.js';
import { PrometheusDefenseMetrics } from './prometheus.metrics.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';

class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function collected(reader: MetricReader): Promise<Map<string, Array<DataPoint<unknown>>>> {
  const { resourceMetrics } = await reader.collect();
  return new Map(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric.dataPoints as Array<DataPoint<unknown>>]));
}

/** One call of every method of a sink. */
function exercise(sink: DefenseMetricsSink): void {
  sink.decision({ layer: 'authorization', outcome: 'allow', route: '/me' });
  sink.storeCall('check', 2, true);
  sink.cacheLookup(true);
  sink.riskScore!(0.5, 'step-up');
  sink.anomalyAlert!('/me');
  sink.securityEvent!('user_revoked');
  sink.lockdownMode!('deny-non-admin');
}

describe('OpenTelemetryDefenseMetrics', () => {
  it("reports every metric of the Prometheus sink, named as documented: a '.' after the prefix, no _total or _seconds", async () => {
    const registry = new Registry();
    exercise(new PrometheusDefenseMetrics({ registry }));
    const reader = new CollectingReader();
    exercise(new OpenTelemetryDefenseMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), spans: false }));
    const expected = registry
      .getMetricsAsArray()
      .map((metric) => metric.name.replace(/^jwt_defense_/, 'jwt_defense.').replace(/_(total|seconds)$/, ''))
      .sort();
    expect([...(await collected(reader)).keys()].sort()).toEqual(expected);
    expect(expected).toHaveLength(8);
  });

  it('counts routes beyond maxRoutes as one `other` series, and the lockdown mode in force as 1', async () => {
    const reader = new CollectingReader();
    const sink = new OpenTelemetryDefenseMetrics({ meterProvider: new MeterProvider({ readers: [reader] }), maxRoutes: 1, spans: false });
    for (const route of ['/a', '/b', '/c', '/c', '/a']) sink.decision({ layer: 'authorization', outcome: 'allow', route });
    sink.decision({ layer: 'token', outcome: 'reject', code: 'token_expired', route: '/d' });
    sink.decision({ layer: 'token', outcome: 'reject', code: 'token_expired', route: '/e' });
    sink.lockdownMode('step-up');
    const metrics = await collected(reader);
    expect(metrics.get('jwt_defense.decisions')!.map((point) => [point.attributes, point.value])).toEqual([
      [{ layer: 'authorization', outcome: 'allow', route: '/a' }, 2],
      [{ layer: 'authorization', outcome: 'allow', route: 'other' }, 3],
      [{ layer: 'token', outcome: 'reject', code: 'token_expired', route: 'other' }, 2],
    ]);
    const lockdown = metrics.get('jwt_defense.lockdown')!;
    expect(lockdown.filter((point) => point.value === 1).map((point) => point.attributes)).toEqual([{ mode: 'step-up' }]);
    expect(lockdown).toHaveLength(3);
  });

  it('adds up the counts of two sinks on one meter provider (two modules in one app), as one series each', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const first = new OpenTelemetryDefenseMetrics({ meterProvider, spans: false });
    const second = new OpenTelemetryDefenseMetrics({ meterProvider, spans: false });
    first.decision({ layer: 'authorization', outcome: 'allow', route: '/me' });
    second.decision({ layer: 'authorization', outcome: 'allow', route: '/me' });
    first.cacheLookup(false);
    second.cacheLookup(false);
    const metrics = await collected(reader);
    expect(metrics.get('jwt_defense.decisions')!.map((point) => point.value)).toEqual([2]);
    expect(metrics.get('jwt_defense.token_cache_lookups')!.map((point) => [point.attributes, point.value])).toEqual([
      [{ result: 'hit' }, 0],
      [{ result: 'miss' }, 2],
    ]);
  });

  it('records no span and asks the pipeline for no clock with spans: false; a span from the given start with spans on', () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    expect(new OpenTelemetryDefenseMetrics({ tracerProvider, spans: false }).requestDecided).toBeUndefined();
    const sink = new OpenTelemetryDefenseMetrics({ tracerProvider });
    const startedMs = performance.now() - 40;
    sink.requestDecided!({ layer: 'edge', outcome: 'reject', code: 'token_missing', route: '/me' }, startedMs);
    const [span] = exporter.getFinishedSpans();
    expect(span.attributes).toEqual({ 'jwt_defense.decision': 'reject', 'jwt_defense.layer': 'edge', 'jwt_defense.code': 'token_missing', 'http.route': '/me' });
    const durationMs = span.duration[0] * 1000 + span.duration[1] / 1e6;
    expect(durationMs).toBeGreaterThanOrEqual(40);
    expect(durationMs).toBeLessThan(1000);
  });
});
