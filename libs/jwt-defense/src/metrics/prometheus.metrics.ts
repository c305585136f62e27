import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import type { SecurityEventType } from '../events/security-event.js';
import type { DefenseDecision, DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { LOCKDOWN_MODES, type LockdownMode } from '../store/defense-store.ports.js';

export interface PrometheusDefenseMetricsOptions {
  /** Where the metrics are registered: your app's registry. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name. Default `jwt_defense_`. */
  prefix?: string;
  /** Distinct route templates kept as label values; beyond, `other` (a guard against unbounded label sets). Default 500. */
  maxRoutes?: number;
}

const STORE_BUCKETS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const SCORE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/**
 * A {@link DefenseMetricsSink} that keeps Prometheus metrics with prom-client: `forRoot({ metrics: new
 * PrometheusDefenseMetrics({ registry }) })`, then serve `registry.metrics()`. Every label is bounded: layers, outcomes,
 * codes and event types are closed sets, routes are templates (capped by `maxRoutes`), never users, tokens or raw URLs.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `jwt_defense_decisions_total` | counter | layer, outcome (allow, reject, fail_open), code, route |
 * | `jwt_defense_risk_score` | histogram | decision (allow, step-up, deny) |
 * | `jwt_defense_anomaly_alerts_total` | counter | route |
 * | `jwt_defense_store_call_duration_seconds` | histogram | operation |
 * | `jwt_defense_store_failures_total` | counter | operation |
 * | `jwt_defense_token_cache_lookups_total` | counter | result (hit, miss) |
 * | `jwt_defense_security_events_total` | counter | type (revocations, rotations, alerts...) |
 * | `jwt_defense_lockdown` | gauge | mode (1 for the mode in force) |
 */
export class PrometheusDefenseMetrics implements DefenseMetricsSink {
  readonly registry: Registry;
  private readonly decisions: Counter<'layer' | 'outcome' | 'code' | 'route'>;
  private readonly riskScores: Histogram<'decision'>;
  private readonly anomalyAlerts: Counter<'route'>;
  private readonly storeDurations: Histogram<'operation'>;
  private readonly storeFailures: Counter<'operation'>;
  private readonly cacheLookups: Counter<'result'>;
  private readonly events: Counter<'type'>;
  private readonly lockdown: Gauge<'mode'>;
  private readonly routes = new Set<string>();
  private readonly maxRoutes: number;

  constructor(options: PrometheusDefenseMetricsOptions = {}) {
    this.registry = options.registry ?? globalRegistry;
    this.maxRoutes = options.maxRoutes ?? 500;
    const p = options.prefix ?? 'jwt_defense_';
    const registers = [this.registry];
    // Reuse a metric a previous sink registered under the same name (two modules sharing one registry).
    const existing = <T>(name: string): T | undefined => this.registry.getSingleMetric(name) as T | undefined;
    this.decisions =
      existing(`${p}decisions_total`) ??
      new Counter({ name: `${p}decisions_total`, help: 'Decisions of the request pipeline, by layer, outcome, code and route template', labelNames: ['layer', 'outcome', 'code', 'route'], registers });
    this.riskScores =
      existing(`${p}risk_score`) ??
      new Histogram({ name: `${p}risk_score`, help: 'Context-risk scores (0-1) by the decision they led to', labelNames: ['decision'], buckets: SCORE_BUCKETS, registers });
    this.anomalyAlerts =
      existing(`${p}anomaly_alerts_total`) ??
      new Counter({ name: `${p}anomaly_alerts_total`, help: 'Anomaly alerts by route template', labelNames: ['route'], registers });
    this.storeDurations =
      existing(`${p}store_call_duration_seconds`) ??
      new Histogram({ name: `${p}store_call_duration_seconds`, help: 'Duration of defence store calls', labelNames: ['operation'], buckets: STORE_BUCKETS_SEC, registers });
    this.storeFailures =
      existing(`${p}store_failures_total`) ??
      new Counter({ name: `${p}store_failures_total`, help: 'Failed defence store calls', labelNames: ['operation'], registers });
    this.cacheLookups =
      existing(`${p}token_cache_lookups_total`) ??
      new Counter({ name: `${p}token_cache_lookups_total`, help: 'Verified-token cache lookups (hit ratio = hit / all)', labelNames: ['result'], registers });
    this.events =
      existing(`${p}security_events_total`) ??
      new Counter({ name: `${p}security_events_total`, help: 'Security events recorded, by type (revocations, key rotations, alerts...)', labelNames: ['type'], registers });
    this.lockdown =
      existing(`${p}lockdown`) ??
      new Gauge({ name: `${p}lockdown`, help: 'The incident lockdown mode in force on this instance (1 for the mode in force)', labelNames: ['mode'], registers });
    this.lockdownMode('off');
  }

  decision(decision: DefenseDecision): void {
    this.decisions.inc({ layer: decision.layer, outcome: decision.outcome, code: decision.code ?? '', route: this.route(decision.route) });
  }

  storeCall(operation: string, durationMs: number, failed: boolean): void {
    this.storeDurations.observe({ operation }, durationMs / 1000);
    if (failed) this.storeFailures.inc({ operation });
  }

  cacheLookup(hit: boolean): void {
    this.cacheLookups.inc({ result: hit ? 'hit' : 'miss' });
  }

  riskScore(score: number, decision: 'allow' | 'step-up' | 'deny'): void {
    this.riskScores.observe({ decision }, score);
  }

  anomalyAlert(route: string): void {
    this.anomalyAlerts.inc({ route: this.route(route) });
  }

  securityEvent(type: SecurityEventType): void {
    this.events.inc({ type });
  }

  lockdownMode(mode: LockdownMode): void {
    for (const candidate of LOCKDOWN_MODES) this.lockdown.set({ mode: candidate }, candidate === mode ? 1 : 0);
  }

  private route(route: string | undefined): string {
    if (route === undefined) return '';
    if (this.routes.has(route)) return route;
    if (this.routes.size >= this.maxRoutes) return 'other';
    this.routes.add(route);
    return route;
  }
}
