import { Inject, Injectable } from '@nestjs/common';
import { RiskDeniedException, StepUpRequiredException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import type { RiskProfile } from '../store/defense-store.ports.js';
import { RISK_PART } from './risk.check-part.js';
import { ContextRiskService, riskContextKey } from './context-risk.service.js';
import type { RequestRiskContext } from './risk-signals.js';


/**
 * Layer 3 on every request with a verified token: the user's context profile is read in the request's ONE store
 * call, the score decides (enforce: 401 step-up with `max_age="0"`, or 403 `risk_denied`; monitor: an event only),
 * and an allowed request's context is learned afterwards without the request waiting.
 *
 * How a step-up is passed: by authenticating again after the challenge. A token whose `auth_time` is later than
 * the user's last challenge passes it from the context it was raised for (which is then learned); one authenticated
 * before never does, however fresh. Every request is scored, passed challenge or not: a token used afterwards from a
 * new country or device meets a new challenge or a denial. A user with no history learns the first context (trust
 * on first use).
 */
@Injectable()
export class ContextRiskStage implements CheckStage {
  readonly layer = 'risk' as const;
  constructor(
    private readonly risk: ContextRiskService,
    private readonly events: SecurityEventService,
    @Inject(DEFENSE_METRICS) private readonly metrics: DefenseMetricsSink,
  ) {}

  prepare(context: PipelineContext, check: DefenseCheckRequest): void {
    if (context.route.risk.mode === 'off') return;
    const riskContext = this.risk.contextFor(context.request, context.clientIp, context.route.template);
    context.risk = { context: riskContext, learn: false };
    askPart(check, RISK_PART, { country: riskContext.country, device: riskContext.device, hourOfWeek: riskContext.hourOfWeek });
  }

  decide(context: PipelineContext, result: DefenseCheckResult): void {
    const state = context.risk;
    const profile = partResult(result, RISK_PART);
    if (!state || !profile) return;
    state.result = result;
    const policy = context.route.risk;
    // Trust on first use.
    if (profile.learned === 0) {
      state.learn = true;
      return;
    }
    // Every other request is scored: passing a challenge never switches scoring off for the user.
    const { score, factors } = this.risk.assess(profile, state.context);
    const decision = this.risk.decide(score, policy);
    this.metrics.riskScore?.(score, decision);
    if (decision === 'allow' || this.passesChallenge(context, profile, state.context)) {
      state.learn = true;
      return;
    }
    const sub = context.principal!.sub;
    this.events.recordSampled(decision === 'deny' ? 'risk_denied' : 'risk_step_up', `${sub}:${decision}`, {
      sub,
      ip: context.clientIp,
      reason: factors.map((factor) => factor.signal).join(', '),
      details: {
        score: Math.round(score * 1000) / 1000,
        mode: policy.mode,
        route: context.route.template,
        ...(state.context.country ? { country: state.context.country } : {}),
        factors: factors.map((factor) => `${factor.signal} +${factor.weight}: ${factor.explanation}`).join('; '),
      },
    });
    if (policy.mode !== 'enforce') return;
    // Dated by the store's clock, like auth_time (not this instance's): a skewed instance must not flip who passes.
    this.risk.recordChallenge(context.identity!.subject, state.context, undefined, context.identity!.tag);
    throw decision === 'deny' ? new RiskDeniedException() : new StepUpRequiredException();
  }

  /**
   * RFC 9470: a token authenticated after the user's last challenge passes it, from the context the challenge was
   * raised for (and only while no login from another context withdrew it); that context is then learned. A context
   * still unknown is scored as usual and may meet a new challenge, dated later.
   */
  private passesChallenge(context: PipelineContext, profile: RiskProfile, request: RequestRiskContext): boolean {
    return (
      profile.challengedAtMs > 0 &&
      context.identity!.authenticatedAtMs > profile.challengedAtMs &&
      profile.challengedContext !== undefined &&
      profile.challengedContext === riskContextKey(request)
    );
  }

  allowed(context: PipelineContext): void {
    const state = context.risk;
    if (state?.learn) this.risk.learn(context.identity!.subject, state.context, state.result && partResult(state.result, RISK_PART), context.identity!.tag);
  }
}
