import type { Provider } from '@nestjs/common';
import { ContextRiskStage } from '../risk/context-risk.stage.js';
import { DpopStage } from '../dpop/dpop.stage.js';
import { LockdownStage } from '../incident/lockdown.stage.js';
import { AnomalyStage } from '../monitoring/anomaly.stage.js';
import { RevocationStage } from '../revocation/revocation.stage.js';
import { ThrottleStage } from '../throttling/throttle.stage.js';
import { BUILT_IN_CHECK_PARTS, CHECK_PARTS } from './check-parts.js';
import type { CheckStage } from './check-stage.js';

/** Injection token of the stages that take part in the ONE store call (`CheckStage[]`), in decision order. */
export const CHECK_STAGES = Symbol('JWT_DEFENSE_CHECK_STAGES');

/**
 * The stages of an authenticated request's ONE store call, in decision order: each adds its part's input (or refuses
 * from memory), then each decides from the answer. Rate limits first: a client over its per-IP limit is refused
 * whatever its token (as a count before authentication would); a refused token's user limit was not counted, so
 * revocation then decides for it (nothing else matters for a revoked token).
 */
export const BUILT_IN_CHECK_STAGES = [ThrottleStage, RevocationStage, LockdownStage, DpopStage, AnomalyStage, ContextRiskStage] as const;

/**
 * The registrations: the parts the store composes, the stages the pipeline runs. A new layer adds its part and its
 * stage here (a test adds a toy one by overriding the two providers, touching no store or pipeline file).
 */
export const checkRegistryProviders: Provider[] = [
  { provide: CHECK_PARTS, useValue: BUILT_IN_CHECK_PARTS },
  { provide: CHECK_STAGES, useFactory: (...stages: CheckStage[]) => stages, inject: [...BUILT_IN_CHECK_STAGES] },
];
