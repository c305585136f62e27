import {
  metrics,
  SpanKind,
  trace,
  type Attributes,
  type BatchObservableResult,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { RouteLabels, SCORE_BUCKETS, STORE_BUCKETS_SEC } from './metric-shapes.js';
import type { SecurityEventType } from '../events/security-event.js';
import type { DefenseDecision, DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { LOCKDOWN_MODES, type LockdownMode } from '../store/defense-store.ports.js';

export interface OpenTelemetryDefenseMetricsOptions {
  /**
   * Where the metrics go. Default: the global one (`metrics.getMeterProvider()`), read when the sink is created: create
   * it after the OpenTelemetry SDK started (the metrics API has no proxy, a meter taken before stays a no-op).
   */
  meterProvider?: MeterProvider;
  /** Where the spans go. Default: the global one (`trace.getTracerProvider()`, a proxy: an SDK registered later is used). */
  tracerProvider?: TracerProvider;
  /** A span per request (`jwt_defense.request`). Default `true`; `false`: metrics only, and the pipeline reads no clock for it. */
  spans?: boolean;
  /** Prefix of every metric name. Default `jwt_defense.`. */
  prefix?: string;
  /**
   * Distinct route templates kept as attribute values; beyond, `other` (a guard against unbounded sets). Default 500.
   * Sinks of one meter provider and prefix (two modules in one app) count together, with the first one's cap.
   */
  maxRoutes?: number;
}

/** The instrumentation scope of the meter and the tracer. */
const SCOPE = '@jwt-defense/core';

/** A count kept on the hot path and reported when the metrics are collected, with its attributes built once. */
interface Tally {
  readonly attributes: Attributes;
  count: number;
}

/**
 * What the sinks of one meter and prefix count (two modules in one app): an observable instrument reports one value per
 * series, so they share the tallies it reads, as Prometheus sinks of one registry share its counters.
 */
interface SharedCounts {
  readonly routes: RouteLabels;
  /** Decisions per set of attributes, observed when the metrics are collected. */
  readonly tallies: Map<string, Tally>;
  readonly lookups: { hit: number; miss: number };
  mode: LockdownMode;
}

const countsOf = new WeakMap<Meter, Map<string, SharedCounts>>();

/**
 * A {@link DefenseMetricsSink} for OpenTelemetry: `forRoot({ metrics: new OpenTelemetryDefenseMetrics() })` with the
 * SDK started (or its providers given). The pipeline's counters become OTel metrics, and each request a span with
 * what was decided. Metrics carry the Prometheus sink's names (with a `.` after the prefix, without `_total` or
 * `_seconds`: an OTel Prometheus exporter adds them back) and its bounded attributes; spans carry the decision, the
 * layer, the code, the token rule (`reason`) and the route template: never a user, a token, a jti or an address.
 *
 * | metric | instrument | attributes |
 * |---|---|---|
 * | `jwt_defense.decisions` | observable counter | layer, outcome (allow, reject, fail_open), code, route |
 * | `jwt_defense.risk_score` | histogram | decision (allow, step-up, deny) |
 * | `jwt_defense.anomaly_alerts` | counter | route |
 * | `jwt_defense.store_call_duration` | histogram (s) | operation |
 * | `jwt_defense.store_failures` | counter | operation |
 * | `jwt_defense.token_cache_lookups` | observable counter | result (hit, miss) |
 * | `jwt_defense.security_events` | counter | type |
 * | `jwt_defense.lockdown` | observable gauge | mode (1 for the mode in force) |
 *
 * | span attribute of `jwt_defense.request` | value |
 * |---|---|
 * | `jwt_defense.decision` | `allow` or `reject` |
 * | `jwt_defense.layer` | the layer that decided (the one that refused; `authorization` for an allowed request, `throttle` for a public route) |
 * | `jwt_defense.code` | the answer's code, when refused (`token_expired`, `rate_limited`...) |
 * | `jwt_defense.reason` | the token rule that refused it (`alg_none`, `jwe`...), when there is one |
 * | `http.route` | the route template |
 */
export class OpenTelemetryDefenseMetrics implements DefenseMetricsSink {
  /** Set when spans are on: the pipeline reads the clock at a request's start only for a sink that has it. */
  readonly requestDecided?: (decision: DefenseDecision, startedMs: number) => void;
  private readonly counts: SharedCounts;
  private readonly riskScores: Histogram;
  private readonly anomalyAlerts: Counter;
  private readonly storeDurations: Histogram;
  private readonly storeFailures: Counter;
  private readonly events: Counter;
  /** An allowed request finds its route's tally by the route alone: one Map lookup per request, no attribute hashing. */
  private readonly allowedByRoute = new Map<string | undefined, Tally>();
  private readonly operations = new Map<string, Attributes>();

  constructor(options: OpenTelemetryDefenseMetricsOptions = {}) {
    const p = options.prefix ?? 'jwt_defense.';
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
    const byPrefix = countsOf.get(meter) ?? new Map<string, SharedCounts>();
    countsOf.set(meter, byPrefix);
    let counts = byPrefix.get(p);
    if (!counts) {
      counts = { routes: new RouteLabels(options.maxRoutes ?? 500), tallies: new Map(), lookups: { hit: 0, miss: 0 }, mode: 'off' };
      byPrefix.set(p, counts);
      observeCounts(meter, p, counts);
    }
    this.counts = counts;
    this.riskScores = meter.createHistogram(`${p}risk_score`, { description: 'Context-risk scores (0-1) by the decision they led to', advice: { explicitBucketBoundaries: SCORE_BUCKETS } });
    this.anomalyAlerts = meter.createCounter(`${p}anomaly_alerts`, { description: 'Anomaly alerts by route template', unit: '{alert}' });
    this.storeDurations = meter.createHistogram(`${p}store_call_duration`, { description: 'Duration of defence store calls', unit: 's', advice: { explicitBucketBoundaries: STORE_BUCKETS_SEC } });
    this.storeFailures = meter.createCounter(`${p}store_failures`, { description: 'Failed defence store calls', unit: '{call}' });
    this.events = meter.createCounter(`${p}security_events`, { description: 'Security events recorded, by type (revocations, key rotations, alerts...)', unit: '{event}' });
    if (options.spans !== false) {
      const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
      this.requestDecided = (decision, startedMs) => this.span(tracer, decision, startedMs);
    }
  }

  decision(decision: DefenseDecision): void {
    if (decision.outcome === 'allow' && decision.layer === 'authorization' && decision.code === undefined) {
      const tally = this.allowedByRoute.get(decision.route);
      if (tally) tally.count++;
      else this.allowedByRoute.set(decision.route, this.tally(decision));
      return;
    }
    this.tally(decision);
  }

  storeCall(operation: string, durationMs: number, failed: boolean): void {
    let attributes = this.operations.get(operation);
    if (!attributes) this.operations.set(operation, (attributes = { operation }));
    this.storeDurations.record(durationMs / 1000, attributes);
    if (failed) this.storeFailures.add(1, attributes);
  }

  cacheLookup(hit: boolean): void {
    if (hit) this.counts.lookups.hit++;
    else this.counts.lookups.miss++;
  }

  riskScore(score: number, decision: 'allow' | 'step-up' | 'deny'): void {
    this.riskScores.record(score, { decision });
  }

  anomalyAlert(route: string): void {
    this.anomalyAlerts.add(1, { route: this.counts.routes.of(route) });
  }

  securityEvent(type: SecurityEventType): void {
    this.events.add(1, { type });
  }

  lockdownMode(mode: LockdownMode): void {
    this.counts.mode = mode;
  }

  /** One span per request, from the pipeline's start to now; its attributes are the decision's bounded fields only. */
  private span(tracer: Tracer, decision: DefenseDecision, startedMs: number): void {
    const attributes: Attributes = { 'jwt_defense.decision': decision.outcome, 'jwt_defense.layer': decision.layer };
    if (decision.code !== undefined) attributes['jwt_defense.code'] = decision.code;
    if (decision.reason !== undefined) attributes['jwt_defense.reason'] = decision.reason;
    if (decision.route !== undefined) attributes['http.route'] = decision.route;
    // Both ends on the monotonic clock, as epoch ms: the SDK would otherwise end a span given a start with Date.now().
    const origin = performance.timeOrigin;
    tracer.startSpan('jwt_defense.request', { kind: SpanKind.INTERNAL, startTime: origin + startedMs, attributes }).end(origin + performance.now());
  }

  /** Counts a decision on the tally of its attributes (routes over `maxRoutes` share `other`'s), and returns it. */
  private tally(decision: DefenseDecision): Tally {
    const { routes, tallies } = this.counts;
    const route = decision.route === undefined ? undefined : routes.of(decision.route);
    const key = `${decision.layer} ${decision.outcome} ${decision.code ?? ''} ${route ?? ''}`;
    const tally = tallies.get(key);
    if (tally) {
      tally.count++;
      return tally;
    }
    const attributes: Attributes = { layer: decision.layer, outcome: decision.outcome };
    if (decision.code !== undefined) attributes.code = decision.code;
    if (route !== undefined) attributes.route = route;
    const created = { attributes, count: 1 };
    tallies.set(key, created);
    return created;
  }
}

/** The observable instruments of one meter and prefix, read from the counts its sinks share. */
function observeCounts(meter: Meter, p: string, counts: SharedCounts): void {
  const decisions = meter.createObservableCounter(`${p}decisions`, { description: 'Decisions of the request pipeline, by layer, outcome, code and route template', unit: '{decision}' });
  const lookups = meter.createObservableCounter(`${p}token_cache_lookups`, { description: 'Verified-token cache lookups (hit ratio = hit / all)', unit: '{lookup}' });
  const lockdown = meter.createObservableGauge(`${p}lockdown`, { description: 'The incident lockdown mode in force on this instance (1 for the mode in force)' });
  meter.addBatchObservableCallback(
    (result: BatchObservableResult) => {
      for (const tally of counts.tallies.values()) result.observe(decisions, tally.count, tally.attributes);
      result.observe(lookups, counts.lookups.hit, { result: 'hit' });
      result.observe(lookups, counts.lookups.miss, { result: 'miss' });
      for (const mode of LOCKDOWN_MODES) result.observe(lockdown, mode === counts.mode ? 1 : 0, { mode });
    },
    [decisions, lookups, lockdown],
  );
}
