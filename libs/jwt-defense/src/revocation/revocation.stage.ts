import { Injectable } from '@nestjs/common';
import { InvalidTokenException } from '../errors/defense.exceptions.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { REVOCATION_PART } from './revocation.check-part.js';
import { storeVerdict } from './revocation.policy.js';
import { RevocationService } from './revocation.service.js';

/**
 * Layer 5 on every request: the global measures (a retired `kid`, revoke everything before T) from memory, with no
 * store call; the jti denylist, the refresh session and the user's epoch from the request's ONE store call.
 */
@Injectable()
export class RevocationStage implements CheckStage {
  readonly layer = 'revocation' as const;
  constructor(private readonly revocation: RevocationService) {}

  prepare(context: PipelineContext, check: DefenseCheckRequest): void {
    if (this.revocation.globalVerdict(context.principal!.kid, context.identity!.authenticatedAtMs)) throw new InvalidTokenException('token_revoked');
    // The call then knows a token revoked by the user epoch too, and counts nothing for it.
    const principal = context.principal!;
    askPart(check, REVOCATION_PART, { jti: principal.jti ?? '', sid: principal.sid, authenticatedAtMs: context.identity!.authenticatedAtMs });
  }

  decide(context: PipelineContext, result: DefenseCheckResult): void {
    if (storeVerdict(partResult(result, REVOCATION_PART)!, context.identity!.authenticatedAtMs)) throw new InvalidTokenException('token_revoked');
  }
}
