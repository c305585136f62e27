import { Inject, Injectable } from '@nestjs/common';
import { DefenseClock } from '../common/defense-clock.js';
import { EpochClock } from '../common/epoch-clock.js';
import { IncidentService } from '../incident/incident.service.js';
import { KNOWN_ISSUERS } from '../jwt-defense.tokens.js';
import { RevocationPolicy } from '../revocation/revocation.policy.js';
import { ContextStore, type AnomalyCount } from '../store/defense-store.ports.js';
import { userIdentity, type KnownIssuers } from '../token/token-ids.js';
import { AnomalyOptions, type AnomalyContainment } from './anomaly.options.js';

const DAY_MS = 86_400_000;

/**
 * Layer 4: per user × route-template rate baselines. Each request is counted in its interval inside the request's
 * ONE store call (an EWMA baseline per route, O(1) memory each); the first request of an interval that goes over
 * `factor` × the baseline (and `minRequests`), after the warm-up, raises one alert, and in `enforce` mode the
 * configured containment applies: a step-up for every token authenticated before it, or revoke-all.
 * @hideconstructor
 */
@Injectable()
export class AnomalyMonitorService {
  constructor(
    readonly options: AnomalyOptions,
    @Inject(ContextStore) private readonly store: ContextStore,
    private readonly incident: IncidentService,
    private readonly policy: RevocationPolicy,
    private readonly clock: DefenseClock,
    @Inject(KNOWN_ISSUERS) private readonly issuers: KnownIssuers,
    private readonly epochs: EpochClock,
  ) {}

  /** The count request for one route (its id from the route policy). */
  countFor(routeId: string, nowMs = this.clock.nowMs()): AnomalyCount {
    const o = this.options;
    return {
      route: routeId,
      intervalMs: o.intervalSec * 1000,
      alpha: o.alpha,
      warmupIntervals: o.warmupIntervals,
      factor: o.factor,
      minRequests: o.minRequests,
      maxRoutes: o.maxRoutesPerUser,
      idleTtlMs: o.idleTtlDays * DAY_MS,
      maxGrowth: o.maxBaselineGrowth,
      nowMs,
    };
  }

  /**
   * Applies a containment to `sub` (of issuer `iss`, default this module's own) now: `step-up` raises the user's
   * step-up epoch (tokens authenticated at or before it answer 401 `insufficient_user_authentication` until a new
   * login), `revoke` revokes every token and session.
   */
  async contain(sub: string, containment: AnomalyContainment, reason: string, iss?: string): Promise<void> {
    if (containment === 'step-up') {
      const { subject, tag } = userIdentity(sub, iss, this.issuers.own);
      await this.store.raiseStepUpBefore(tag, subject, await this.epochs.nowMs(), this.policy.stepUpEpochTtlMs);
    } else if (containment === 'revoke') {
      await this.incident.revokeUser(sub, { reason, actor: 'anomaly-monitor', iss });
    }
  }
}
