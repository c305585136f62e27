import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query, UseGuards } from '@nestjs/common';
import {
  CurrentPrincipal,
  IncidentService,
  InjectDefenseStore,
  Public,
  RequireRoles,
  SecurityEventService,
  SecurityHeaders,
  TokenService,
  type AccessTokenPrincipal,
  type DefenseStore,
  type JsonWebKeySet,
  type SecurityEvent,
} from '@jwt-defense/core';
import { JtiParam, RevokeTokenDto, RevokeUserDto, SecurityEventsQueryDto, SubParam } from '../auth/auth.dto.js';
import { JsonOnlyGuard } from './json-only.guard.js';

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

@Controller('.well-known')
export class JwksController {
  constructor(private readonly tokens: TokenService) {}

  /** Public keys only; an HS256 demo has none to publish, so it answers 404. */
  @Public()
  @SecurityHeaders({ cacheControl: 'public, max-age=300' })
  @Get('jwks.json')
  jwks(): JsonWebKeySet {
    const jwks = this.tokens.getJwks();
    if (jwks.keys.length === 0) throw new NotFoundException();
    return jwks;
  }
}

/** The incident API of the demo: admin role required (403 otherwise); JSON bodies only (415 otherwise). */
@RequireRoles('admin')
@UseGuards(JsonOnlyGuard)
@Controller('admin')
export class AdminController {
  constructor(
    private readonly incident: IncidentService,
    private readonly events: SecurityEventService,
  ) {}

  /**
   * Every token and session of the user issued up to now is refused from the next request, on every instance. `iss`
   * names an external issuer's user (absent, or the demo's own issuer: its local user of that `sub`); an issuer not
   * configured: 400 `invalid_request`.
   */
  @Post('users/:sub/revoke-all')
  @HttpCode(200)
  async revokeAll(@Param() { sub }: SubParam, @Body() body: RevokeUserDto, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const { notBeforeMs } = await this.incident.revokeUser(sub, { reason: body.reason, actor: admin.sub, iss: body.iss });
    return { sub, ...(body.iss === undefined ? {} : { iss: body.iss }), revoked_before: new Date(notBeforeMs).toISOString() };
  }

  @Post('tokens/:jti/revoke')
  @HttpCode(200)
  async revokeToken(@Param() { jti }: JtiParam, @Body() body: RevokeTokenDto, @CurrentPrincipal() admin: AccessTokenPrincipal) {
    const newlyRevoked = await this.incident.revokeToken(jti, { reason: body.reason, sub: body.sub, iss: body.iss, actor: admin.sub });
    return { jti, revoked: true, already_revoked: !newlyRevoked };
  }

  @Get('security-events')
  async securityEvents(@Query() query: SecurityEventsQueryDto): Promise<{ events: SecurityEvent[] }> {
    const since = query.since === undefined ? {} : { sinceMs: Date.parse(query.since) };
    return { events: await this.events.list({ type: query.type, sub: query.sub, limit: query.limit, ...since }) };
  }
}
