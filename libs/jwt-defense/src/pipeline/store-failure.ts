import { Inject, Injectable } from '@nestjs/common';
import { DefenseStoreUnavailableException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import type { FailMode } from './fail-mode.js';
import type { DefenseLayer, DefenseMetricsSink } from './metrics-sink.js';
import type { PipelineContext } from './pipeline-context.js';

/** At most one `store_unavailable` event per layer per 5 s per instance: an outage must not flood the log. */
const EVENT_EVERY_MS = 5000;

/**
 * The one place a store failure meets a fail mode: it is reported (metrics, a sampled `store_unavailable`
 * event), then either refuses the request (`closed`: 503 `defense_store_unavailable` with `Retry-After`) or
 * lets it through (`open`). Anything that is not a store failure is re-thrown untouched. A limit insured on this
 * instance (`throttle.insurance`) is reported here too (`insured`).
 */
@Injectable()
export class StoreFailures {
  constructor(
    private readonly events: SecurityEventService,
    @Inject(DEFENSE_METRICS) private readonly metrics: DefenseMetricsSink,
  ) {}

  handle(error: unknown, layer: DefenseLayer, failMode: FailMode, context: PipelineContext): void {
    if (!(error instanceof DefenseStoreError)) throw error;
    // A refusal is reported by the pipeline with every other one; a request let through is reported here.
    this.report(error, layer, failMode, context, failMode === 'open');
    if (failMode === 'closed') throw new DefenseStoreUnavailableException(error);
  }

  /**
   * A limit the store could not count, counted on this instance instead (`throttle.insurance`): reported as a fail mode
   * is, with `details.failMode: 'insurance'` (sampled apart from the layer's fail mode); `through`: the request goes on
   * within the instance's share, reported `fail_open` (a 429 beyond it is reported by the pipeline).
   */
  insured(error: DefenseStoreError, layer: DefenseLayer, context: PipelineContext, through: boolean): void {
    this.report(error, layer, 'insurance', context, through);
  }

  private report(error: DefenseStoreError, layer: DefenseLayer, failMode: FailMode | 'insurance', context: PipelineContext, through: boolean): void {
    if (through) this.metrics.decision({ layer, outcome: 'fail_open', code: 'defense_store_unavailable', route: context.route.template });
    this.events.recordSampled(
      'store_unavailable',
      failMode === 'insurance' ? `${layer}:insurance` : layer,
      { ip: context.clientIp, details: { failMode, layer, reason: error.name } },
      EVENT_EVERY_MS,
    );
  }
}
