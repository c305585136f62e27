import type { DefenseCheckRequest, DefenseCheckResult } from '../store/defense-store.ports.js';
import type { DefenseLayer } from './metrics-sink.js';
import type { PipelineContext } from './pipeline-context.js';

/**
 * A layer with per-request state. Every such layer is read (and counted) in the ONE store call of an
 * authenticated request: each stage adds what it needs to the request, then decides from the answer, in the
 * order the pipeline lists them. To add a layer: implement this and its part (store/check-part.ts), and register
 * both (pipeline/check-stages.ts, pipeline/check-parts.ts).
 */
export interface CheckStage {
  /** The layer it reports as, in metrics and events, when it refuses. */
  readonly layer: DefenseLayer;
  /** Adds this layer's part to the store call; may refuse at once (throw) from in-memory state alone. */
  prepare(context: PipelineContext, check: DefenseCheckRequest): void;
  /**
   * Decides from the store's answer: returns to allow, throws a `JwtDefenseException` to refuse. May return a
   * promise for a rare write the answer must wait for (a containment); the common path stays synchronous.
   */
  decide(context: PipelineContext, result: DefenseCheckResult): void | Promise<void>;
  /**
   * The ONE call failed, before the call's own fail mode applies: a stage whose state went with it may apply its own
   * (throw to refuse).
   */
  failed?(context: PipelineContext, error: unknown): void;
  /** The request passed every stage: learn from it (in the background: the request does not wait). */
  allowed?(context: PipelineContext): void;
}
