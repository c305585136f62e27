import { Injectable } from '@nestjs/common';
import { DpopProofException } from '../errors/defense.exceptions.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { DPOP_PART } from './dpop.check-part.js';
import { DpopService, type DpopProof } from './dpop.service.js';


/**
 * DPoP on every request with a verified token (RFC 9449): a bound token (`cnf.jkt`) needs the `DPoP` scheme and a
 * valid proof by its key (one proof verification, no extra round trip: the replay check is in the ONE store call);
 * a bound token sent as `Bearer` is refused; with `dpop.mode: 'required'` so is every unbound token.
 */
@Injectable()
export class DpopStage implements CheckStage {
  readonly layer = 'dpop' as const;
  constructor(private readonly dpop: DpopService) {}

  /** After verification, before the store call: the scheme and the proof (synchronous for an unbound token). */
  verify(context: PipelineContext, scheme: 'Bearer' | 'DPoP', token: string): void | Promise<void> {
    const mode = this.dpop.options.mode;
    const bound = context.principal!.jkt;
    if (bound === undefined) {
      if (scheme === 'DPoP') throw new DpopProofException('invalid_token', 'unbound_token_as_dpop');
      if (mode === 'required') throw new DpopProofException('invalid_token', 'dpop_required');
      return;
    }
    if (mode === 'off') throw new DpopProofException('invalid_token', 'dpop_off');
    if (scheme !== 'DPoP') throw new DpopProofException('invalid_token', 'bound_token_as_bearer');
    return this.dpop.verifyProof(context.request, { accessToken: token }).then((proof) => {
      if (proof.jkt !== bound) throw new DpopProofException('invalid_dpop_proof', 'key_mismatch');
      context.proof = proof;
    });
  }

  prepare(context: PipelineContext, check: DefenseCheckRequest): void {
    const proof = context.proof;
    if (proof) askPart(check, DPOP_PART, { key: proof.replayKey, ttlMs: this.dpop.replayTtlMs });
  }

  decide(_context: PipelineContext, result: DefenseCheckResult): void {
    if (partResult(result, DPOP_PART)?.replayed) throw new DpopProofException('invalid_dpop_proof', 'replay');
  }
}
