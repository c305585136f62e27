import { Body, Get, HttpCode, Inject, NotFoundException, Param, Post } from '@nestjs/common';
import { SecurityHeaders } from '../headers/security-headers.decorator.js';
import { CurrentPrincipal } from '../policy/current-principal.decorator.js';
import { Public } from '../policy/defense-policy.decorator.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import type { JsonWebKeySet } from '../token/token.service.js';
import { KidParam, OpsInputPipe, ReasonInput, type Checked } from './ops.inputs.js';
import { OpsServices } from './ops.services.js';

/** `{path}/incident/rotate-key` and `retire-key/:kid`: admin roles, JSON only; not mounted without own keys. */
export class KeysController {
  constructor(@Inject(OpsServices) private readonly ops: OpsServices) {}

  /**
   * A new signing key signs from now on, on every instance; the old one stays in the JWKS until retired. Concurrent
   * calls answer one new kid; a full key ring answers 409 `key_ring_full`.
   */
  @Post('rotate-key')
  @HttpCode(200)
  async rotateKey(@Body(new OpsInputPipe(ReasonInput)) body: Checked<ReasonInput>, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const { kid, previousKid, algorithm } = await this.ops.incident.rotateKey({ reason: body.reason, actor: admin.sub });
    return { kid, previous_kid: previousKid, alg: algorithm };
  }

  /** Tokens signed with `kid` are refused; the key that signs new tokens answers 409 `signing_key_active`. */
  @Post('retire-key/:kid')
  @HttpCode(200)
  async retireKey(@Param(new OpsInputPipe(KidParam)) { kid }: Checked<KidParam>, @Body(new OpsInputPipe(ReasonInput)) body: Checked<ReasonInput>, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    await this.ops.incident.retireKey(kid, { reason: body.reason, actor: admin.sub });
    return { kid, retired: true };
  }
}

/** `GET /.well-known/jwks.json`: public keys only; a module with none to publish (HS256) answers 404. */
@Public()
export class JwksController {
  constructor(@Inject(OpsServices) private readonly ops: OpsServices) {}

  @SecurityHeaders({ cacheControl: 'public, max-age=300' })
  @Get('jwks.json')
  jwks(): JsonWebKeySet {
    const jwks = this.ops.tokens.getJwks();
    if (jwks.keys.length === 0) throw new NotFoundException();
    return jwks;
  }
}
