import { IsIn, IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';
import { REQUIRED } from '../common/options.js';
import { LAYER_MODES, type LayerMode } from '../risk/risk.options.js';

/** What an anomaly alert does to the user: nothing more, a step-up for every older token, or revoke-all. */
export type AnomalyContainment = 'none' | 'step-up' | 'revoke';

/**
 * Layer 4: per user × route template rate baselines (an EWMA of per-interval counts, O(1) each): an alert when an
 * interval's count goes over `factor` × the baseline (and `minRequests`), after a warm-up, once per interval.
 */
export class AnomalyOptions {
  declare readonly [REQUIRED]?: {};
  /** `enforce` applies the containment; `monitor` only records `anomaly_detected`; `off`: no state, no cost. Default `off`. */
  @IsIn(LAYER_MODES) mode: LayerMode = 'off';
  /** Length of an interval, in seconds. Default 3600; 10 to 604800. */
  @IsInt() @Min(10) @Max(604_800) intervalSec: number = 3600;
  /** Intervals of history before any alert. Default 24; 0 to 10000. */
  @IsInt() @Min(0) @Max(10_000) warmupIntervals: number = 24;
  /** An interval's count over this many times the baseline is an anomaly. Default 3; 1 to 1000. */
  @IsNumber() @Min(1) @Max(1000) factor: number = 3;
  /** No alert below this many requests in an interval. Default 20; 1 to 1000000. */
  @IsInt() @Min(1) @Max(1_000_000) minRequests: number = 20;
  /** EWMA smoothing of the baseline (weight of the newest interval), 0.01 to 1. Default 0.3. */
  @IsNumber() @Min(0.01) @Max(1) alpha: number = 0.3;
  /**
   * The most a baseline may grow from one interval to the next, as a factor (above the level at which `minRequests`
   * alone decides, `minRequests / factor`). An attacker ramping a user's traffic up slowly, just under `factor` ×
   * the baseline each interval, could otherwise teach it any amount (6 → 184 requests per interval in 6 intervals
   * with the EWMA alone); with 1.25, growing k× beyond `factor` without an alert takes at least
   * log(k) / log(1.25) intervals (30× in 6 intervals alerts). 1.01 to 100. Default 1.25.
   */
  @IsNumber() @Min(1.01) @Max(100) maxBaselineGrowth: number = 1.25;
  /** In `enforce` mode: `none` (an event only), `step-up` (tokens authenticated before the alert need a new login) or `revoke` (revoke-all for the user). Default `none`. */
  @IsIn(['none', 'step-up', 'revoke']) containment: AnomalyContainment = 'none';
  /** Route baselines kept per user; the least recently used goes. Default 50; 1 to 10000. */
  @IsInt() @Min(1) @Max(10_000) maxRoutesPerUser: number = 50;
  /** An idle user's baselines are forgotten after this many days. Default 30; 1 to 3650. */
  @IsInt() @Min(1) @Max(3650) idleTtlDays: number = 30;
}

/** A route's own anomaly policy (`@DefensePolicy({ anomaly })`). */
export class RouteAnomalyOptions {
  declare readonly [REQUIRED]?: {};
  /** The layer's mode on this route. */
  @IsOptional() @IsIn(LAYER_MODES) mode?: LayerMode;
  /** The containment on this route. */
  @IsOptional() @IsIn(['none', 'step-up', 'revoke']) containment?: AnomalyContainment;
}
