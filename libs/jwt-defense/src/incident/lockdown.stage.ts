import { Injectable } from '@nestjs/common';
import { LockdownException, StepUpRequiredException } from '../errors/defense.exceptions.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import type { DefenseCheckRequest } from '../store/defense-store.ports.js';
import { IncidentService } from './incident.service.js';

/**
 * The incident lockdown on every authenticated request, from memory (the global state every instance refreshes):
 * no store call, and a refusal before the request's store call. `step-up`: a token authenticated at or before the
 * lockdown answers 401 `insufficient_user_authentication` until a new login; `deny-non-admin`: 403 `lockdown` unless
 * the principal has an admin role.
 */
@Injectable()
export class LockdownStage implements CheckStage {
  readonly layer = 'lockdown' as const;
  constructor(private readonly incident: IncidentService) {}

  prepare(context: PipelineContext, _check: DefenseCheckRequest): void {
    const verdict = this.incident.lockdownVerdict(context.principal!, context.identity!.authenticatedAtMs);
    if (verdict === 'step-up') throw new StepUpRequiredException();
    if (verdict === 'deny') throw new LockdownException();
  }

  decide(): void {}
}
