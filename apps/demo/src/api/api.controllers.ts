import { Body, Controller, Get, HttpCode, NotFoundException, NotImplementedException, Param, Post, Query } from '@nestjs/common';
import {
  CurrentPrincipal,
  Public,
  RequireRoles,
  SecurityHeaders,
  TokenService,
  type AccessTokenPrincipal,
  type JsonWebKeySet,
} from '@jwt-defense/core';
import { RevokeDto } from '../auth/auth.dto.js';

@Controller()
export class MeController {
  @Get('me')
  me(@CurrentPrincipal() principal: AccessTokenPrincipal) {
    return { sub: principal.sub, roles: principal.roles, jti: principal.jti, exp: principal.exp };
  }
}

@Controller()
export class HealthController {
  @Public()
  @Get('health')
  health() {
    // The embedded memory store is the only one until the shared-state layer lands.
    return { status: 'ok', store: 'memory' };
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

/** Incident endpoints; they answer 501 until the revocation layer lands, but the role check is live. */
@RequireRoles('admin')
@Controller('admin')
export class AdminController {
  @Post('users/:sub/revoke-all')
  @HttpCode(200)
  revokeAll(@Param('sub') _sub: string, @Body() _body: RevokeDto): never {
    throw new NotImplementedException();
  }

  @Post('tokens/:jti/revoke')
  @HttpCode(200)
  revokeToken(@Param('jti') _jti: string, @Body() _body: RevokeDto): never {
    throw new NotImplementedException();
  }

  @Get('security-events')
  securityEvents(@Query('type') _type?: string): never {
    throw new NotImplementedException();
  }
}
