import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import { OneLabelHistogram } from './one-label-histogram.js';
import { RouteLabels, SCORE_BUCKETS, STORE_BUCKETS_SEC } from './metric-shapes.js';
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

/**
 * What each sink counted on the hot path and not yet added to a counter, per counter: prom-client calls a metric's
 * `collect` before it is read (a scrape), which adds them. A counter two sinks share (one registry) adds both's.
 */
const pendingOf = new WeakMap<object, Set<() => void>>();

function collectPending(this: object): void {
  for (const flush of pendingOf.get(this) ?? []) flush();
}

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
  private readonly riskScores: OneLabelHistogram | Histogram<'decision'>;
  private readonly anomalyAlerts: Counter<'route'>;
  private readonly storeDurations: OneLabelHistogram | Histogram<'operation'>;
  private readonly storeFailures: Counter<'operation'>;
  private readonly cacheLookups: Counter<'result'>;
  private readonly events: Counter<'type'>;
  private readonly lockdown: Gauge<'mode'>;
  private readonly routes: RouteLabels;
  /**
   * Allowed requests per route template, and cache lookups, counted here and added to their counters when the registry
   * is read: one Map update per request instead of prom-client's label hashing (`undefined`: a counter another
   * library registered, counted directly).
   */
  private readonly allowedByRoute?: Map<string | undefined, number>;
  private readonly lookups?: { hit: number; miss: number };

  constructor(options: PrometheusDefenseMetricsOptions = {}) {
    this.registry = options.registry ?? globalRegistry;
    this.routes = new RouteLabels(options.maxRoutes ?? 500);
    const p = options.prefix ?? 'jwt_defense_';
    const registers = [this.registry];
    // Reuse a metric a previous sink registered under the same name (two modules sharing one registry).
    const existing = <T>(name: string): T | undefined => this.registry.getSingleMetric(name) as T | undefined;
    this.decisions =
      existing(`${p}decisions_total`) ??
      new Counter({ name: `${p}decisions_total`, help: 'Decisions of the request pipeline, by layer, outcome, code and route template', labelNames: ['layer', 'outcome', 'code', 'route'], registers, collect: collectPending });
    this.riskScores =
      existing(`${p}risk_score`) ?? new OneLabelHistogram(`${p}risk_score`, 'Context-risk scores (0-1) by the decision they led to', 'decision', SCORE_BUCKETS, this.registry);
    this.anomalyAlerts =
      existing(`${p}anomaly_alerts_total`) ??
      new Counter({ name: `${p}anomaly_alerts_total`, help: 'Anomaly alerts by route template', labelNames: ['route'], registers });
    this.storeDurations =
      existing(`${p}store_call_duration_seconds`) ??
      new OneLabelHistogram(`${p}store_call_duration_seconds`, 'Duration of defence store calls', 'operation', STORE_BUCKETS_SEC, this.registry);
    this.storeFailures =
      existing(`${p}store_failures_total`) ??
      new Counter({ name: `${p}store_failures_total`, help: 'Failed defence store calls', labelNames: ['operation'], registers });
    this.cacheLookups =
      existing(`${p}token_cache_lookups_total`) ??
      new Counter({ name: `${p}token_cache_lookups_total`, help: 'Verified-token cache lookups (hit ratio = hit / all)', labelNames: ['result'], registers, collect: collectPending });
    this.events =
      existing(`${p}security_events_total`) ??
      new Counter({ name: `${p}security_events_total`, help: 'Security events recorded, by type (revocations, key rotations, alerts...)', labelNames: ['type'], registers });
    this.lockdown =
      existing(`${p}lockdown`) ??
      new Gauge({ name: `${p}lockdown`, help: 'The incident lockdown mode in force on this instance (1 for the mode in force)', labelNames: ['mode'], registers });
    this.lockdownMode('off');
    const allowedByRoute = new Map<string | undefined, number>();
    if (this.pending(this.decisions, () => this.flushAllowed(allowedByRoute))) this.allowedByRoute = allowedByRoute;
    const lookups = { hit: 0, miss: 0 };
    if (this.pending(this.cacheLookups, () => this.flushLookups(lookups))) this.lookups = lookups;
  }

  decision(decision: DefenseDecision): void {
    const allowed = this.allowedByRoute;
    if (allowed && decision.outcome === 'allow' && decision.layer === 'authorization' && decision.code === undefined) {
      allowed.set(decision.route, (allowed.get(decision.route) ?? 0) + 1);
      return;
    }
    this.decisions.inc({ layer: decision.layer, outcome: decision.outcome, code: decision.code ?? '', route: this.route(decision.route) });
  }

  storeCall(operation: string, durationMs: number, failed: boolean): void {
    if (this.storeDurations instanceof OneLabelHistogram) this.storeDurations.record(operation, durationMs / 1000);
    else this.storeDurations.observe({ operation }, durationMs / 1000);
    if (failed) this.storeFailures.inc({ operation });
  }

  cacheLookup(hit: boolean): void {
    if (this.lookups) {
      if (hit) this.lookups.hit++;
      else this.lookups.miss++;
      return;
    }
    this.cacheLookups.inc({ result: hit ? 'hit' : 'miss' });
  }

  riskScore(score: number, decision: 'allow' | 'step-up' | 'deny'): void {
    if (this.riskScores instanceof OneLabelHistogram) this.riskScores.record(decision, score);
    else this.riskScores.observe({ decision }, score);
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

  /** Registers `flush` to run before `counter` is read; false when the counter is not one of ours (no `collect` of ours). */
  private pending(counter: object, flush: () => void): boolean {
    const flushes = pendingOf.get(counter) ?? new Set<() => void>();
    if ((counter as { collect?: unknown }).collect !== collectPending) return false;
    flushes.add(flush);
    pendingOf.set(counter, flushes);
    return true;
  }

  private flushAllowed(allowed: Map<string | undefined, number>): void {
    for (const [route, count] of allowed) this.decisions.inc({ layer: 'authorization', outcome: 'allow', code: '', route: this.route(route) }, count);
    allowed.clear();
  }

  private flushLookups(lookups: { hit: number; miss: number }): void {
    if (lookups.hit) this.cacheLookups.inc({ result: 'hit' }, lookups.hit);
    if (lookups.miss) this.cacheLookups.inc({ result: 'miss' }, lookups.miss);
    lookups.hit = 0;
    lookups.miss = 0;
  }

  private route(route: string | undefined): string {
    return route === undefined ? '' : this.routes.of(route);
  }
}
