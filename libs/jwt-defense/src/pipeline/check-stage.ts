import type { DefenseCheckRequest, DefenseCheckResult } from '../store/defense-store.ports.js';
import type { PipelineContext } from './pipeline-context.js';

/**
 * A layer with per-request state. Every such layer is read (and counted) in the ONE store call of an
 * authenticated request: each stage adds what it needs to the request, then decides from the answer, in the
 * order the pipeline lists them. To add a layer: implement this, and add it to `RequestPipeline`'s list (and
 * its part to the store's `check`).
 */
export interface CheckStage {
  /** Adds this layer's part to the store call; may refuse at once (throw) from in-memory state alone. */
  prepare(context: PipelineContext, check: DefenseCheckRequest): void;
  /**
   * Decides from the store's answer: returns to allow, throws a `JwtDefenseException` to refuse. May return a
   * promise for a rare write the answer must wait for (a containment); the common path stays synchronous.
   */
  decide(context: PipelineContext, result: DefenseCheckResult): void | Promise<void>;
  /** The request passed every stage: learn from it (in the background: the request does not wait). */
  allowed?(context: PipelineContext): void;
}
