import { Controller, Get } from '@nestjs/common';
import { CurrentPrincipal, InjectDefenseStore, Public, TokenService, type AccessTokenPrincipal, type DefenseStore } from '@jwt-defense/core';

@Controller()
export class MeController {
  constructor(private readonly tokens: TokenService) {}

  /** The demo's own tokens: `{sub, roles, jti, exp}`; an external issuer's: `{sub, roles, exp, iss}` and `jti` when it has one. */
  @Get('me')
  me(@CurrentPrincipal() principal: AccessTokenPrincipal) {
    if (principal.issuer === this.tokens.issuer) return { sub: principal.sub, roles: principal.roles, jti: principal.jti, exp: principal.exp };
    return { sub: principal.sub, roles: principal.roles, exp: principal.exp, iss: principal.issuer, ...(principal.jti ? { jti: principal.jti } : {}) };
  }
}

@Controller()
export class HealthController {
  constructor(@InjectDefenseStore() private readonly store: DefenseStore) {}

  @Public()
  @Get('health')
  health() {
    return { status: 'ok', store: this.store.kind };
  }
}
