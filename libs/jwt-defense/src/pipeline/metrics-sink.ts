import type { DefenseErrorCode } from '../errors/defense-error-code.js';
import type { SecurityEventType } from '../events/security-event.js';
import type { LockdownMode } from '../store/defense-store.ports.js';

/** The pipeline's layers, as reported to a {@link DefenseMetricsSink}. */
/** The layer a decision comes from (the one that refused, for a rejection): the stages of the pipeline, and `store` for a store failure. */
export type DefenseLayer = 'throttle' | 'edge' | 'token' | 'dpop' | 'revocation' | 'lockdown' | 'anomaly' | 'risk' | 'authorization' | 'store';

/** One decision of a layer about one request. */
export interface DefenseDecision {
  layer: DefenseLayer;
  /** `allow`, `reject`, or `fail_open` (the store failed and the layer let the request through). */
  outcome: 'allow' | 'reject' | 'fail_open';
  /** The answer's code when rejected (a closed set). */
  code?: DefenseErrorCode;
  /** A finer reason, from a closed set of rule names (`jwe`, `alg_none`, `header_jku`, `utf8`...), for token rejections. */
  reason?: string;
  /** The route template (`/orders/:id`), never the raw URL. */
  route?: string;
}

/**
 * Where the stages report what they decide, so metrics (Prometheus...) plug in without touching them. Every
 * label is bounded: layers, codes and route templates, never users or tokens. The default sink does nothing;
 * give yours as `forRoot({ metrics })`. Calls are synchronous and must not throw.
 */
export interface DefenseMetricsSink {
  decision(decision: DefenseDecision): void;
  /** One store operation: its name (`check`, `hit`...), how long it took (ms) and whether it failed. */
  storeCall(operation: string, durationMs: number, failed: boolean): void;
  /** A verified-token cache lookup. */
  cacheLookup(hit: boolean): void;
  /** A context-risk score (0-1) and what it decided (before the mode: monitor still reports step-up/deny). */
  riskScore?(score: number, decision: 'allow' | 'step-up' | 'deny'): void;
  /** An anomaly alert on a route template. */
  anomalyAlert?(route: string): void;
  /** A security event was recorded (revocations, rotations, alerts...): its type, a closed set. */
  securityEvent?(type: SecurityEventType): void;
  /** The lockdown mode this instance enforces, on every change. */
  lockdownMode?(mode: LockdownMode): void;
  /**
   * The final decision about one request (once per pipeline run that decides: allowed, refused, or a public route let
   * through, reported as `throttle`'s `allow`), with when the pipeline started it (a `performance.now()` value, ms): a
   * span per request. The pipeline reads the clock for it only when the sink has this method.
   */
  requestDecided?(decision: DefenseDecision, startedMs: number): void;
}

/** The default sink: reports nowhere. */
export const NOOP_METRICS_SINK: DefenseMetricsSink = Object.freeze({
  decision: () => undefined,
  storeCall: () => undefined,
  cacheLookup: () => undefined,
});
