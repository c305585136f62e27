import { Inject, Injectable } from '@nestjs/common';
import { InvalidTokenException, StepUpRequiredException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { ANOMALY_PART, STEP_UP_PART } from './anomaly.check-part.js';
import { AnomalyMonitorService } from './anomaly-monitor.service.js';

/**
 * Layer 4 on every request with a verified token: counted in the ONE store call; a step-up epoch set by an earlier
 * containment is enforced; an alert (one per user, route and interval) is recorded as `anomaly_detected` with the
 * count and the baseline, and contained in `enforce` mode (the request that raised it is refused too).
 */
@Injectable()
export class AnomalyStage implements CheckStage {
  readonly layer = 'anomaly' as const;
  constructor(
    private readonly anomaly: AnomalyMonitorService,
    private readonly events: SecurityEventService,
    @Inject(DEFENSE_METRICS) private readonly metrics: DefenseMetricsSink,
  ) {}

  prepare(context: PipelineContext, check: DefenseCheckRequest): void {
    if (context.route.anomaly.mode === 'off') return;
    askPart(check, ANOMALY_PART, this.anomaly.countFor(context.route.routeId));
    askPart(check, STEP_UP_PART, true);
  }

  decide(context: PipelineContext, result: DefenseCheckResult): void | Promise<void> {
    const stepUpBeforeMs = partResult(result, STEP_UP_PART)?.stepUpBeforeMs;
    if (stepUpBeforeMs && context.identity!.authenticatedAtMs <= stepUpBeforeMs) throw new StepUpRequiredException();
    const counted = partResult(result, ANOMALY_PART);
    if (!counted?.alerted) return;
    const { mode, containment } = context.route.anomaly;
    const sub = context.principal!.sub;
    this.metrics.anomalyAlert?.(context.route.template);
    this.events.record('anomaly_detected', {
      sub,
      ip: context.clientIp,
      reason: `${counted.count} requests in this interval against a baseline of ${counted.baseline.toFixed(1)}`,
      details: {
        route: context.route.template,
        count: counted.count,
        baseline: Math.round(counted.baseline * 100) / 100,
        intervals: counted.intervals,
        mode,
        containment: mode === 'enforce' ? containment : 'none',
      },
    });
    if (mode !== 'enforce' || containment === 'none') return;
    return this.contain(context.principal!.sub, context.principal!.issuer, containment, context.route.template);
  }

  /** The rare path (an alert in enforce mode): the request waits for the containment, then is refused too. */
  private async contain(sub: string, iss: string, containment: 'step-up' | 'revoke', route: string): Promise<never> {
    await this.anomaly.contain(sub, containment, `anomaly on ${route}`, iss);
    throw containment === 'revoke' ? new InvalidTokenException('token_revoked') : new StepUpRequiredException();
  }
}
