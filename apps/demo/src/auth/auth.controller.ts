import { Body, Controller, HttpCode, Post, Req, UnauthorizedException, UseGuards } from '@nestjs/common';
import {
  ContextRiskService,
  CurrentPrincipal,
  DpopService,
  DefensePolicy,
  JsonOnlyGuard,
  JwtDefenseErrors,
  Public,
  RefreshTokenService,
  RevocationService,
  type AccessTokenPrincipal,
  type TokenPair,
} from '@jwt-defense/core';
import { LoginDto, RefreshDto } from './auth.dto.js';
import { UsersService } from './users.service.js';

/** `acr` of the demo's tokens: a password login (the demo has no second factor). */
const PASSWORD_ACR = 'urn:jwt-defense:acr:pwd';

/** OAuth-style token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  /** `DPoP` when the login carried a DPoP proof: the tokens are bound to its key (RFC 9449). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
}

function toResponse(pair: TokenPair): TokenResponse {
  return {
    access_token: pair.accessToken.token,
    refresh_token: pair.refreshToken,
    token_type: pair.tokenType,
    expires_in: pair.accessToken.expiresInSec,
  };
}

/** JSON bodies only (415 otherwise): a cross-site form cannot post a login. */
@UseGuards(JsonOnlyGuard)
@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly refreshTokens: RefreshTokenService,
    private readonly revocation: RevocationService,
    private readonly risk: ContextRiskService,
    private readonly dpop: DpopService,
  ) {}

  /** Throttled per IP and per username (the `login` profile, see AppModule), failed and successful attempts alike. */
  @Public()
  @DefensePolicy({ throttle: 'login' })
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: LoginDto, @Req() request: unknown): Promise<TokenResponse> {
    const user = await this.users.verifyCredentials(body.username, body.password);
    // One answer for an unknown user and a wrong password.
    if (!user) throw new UnauthorizedException(JwtDefenseErrors.defenseErrorBody(401, 'invalid_credentials'));
    // A login with a DPoP proof binds the session to the proof's key (token_type DPoP, cnf.jkt), unless DPOP=off; the
    // proof is recorded, so a replayed one is refused.
    const proof = await this.dpop.proofForBinding(request, user.username);
    const pair = await this.refreshTokens.issuePair(user.username, { roles: [...user.roles], acr: PASSWORD_ACR }, { jkt: proof?.jkt });
    // A login records its context (country, device, hour) as known for the user.
    await this.risk.learnLogin(request, user.username);
    return toResponse(pair);
  }

  /** Rotation: the refresh token used is dead afterwards; using it again revokes its whole family. */
  @Public()
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Body() body: RefreshDto, @Req() request: unknown): Promise<TokenResponse> {
    // The access token gets the user's roles as they are now, not as they were at login; a user who is
    // gone loses the session.
    const claims = (sub: string) => {
      const roles = this.users.findRoles(sub);
      return roles ? { roles: [...roles], acr: PASSWORD_ACR } : null;
    };
    // The request's DPoP proof is checked after the refresh token, and recorded with the rotation. A refused refresh
    // token (garbage, forged, reused, logged out, expired) is the module's 401 with its code: no catch needed.
    return toResponse(await this.refreshTokens.refresh(body.refresh_token, { claims, request }));
  }

  /** Revokes the access token and its refresh family. */
  @Post('logout')
  @HttpCode(204)
  async logout(@CurrentPrincipal() principal: AccessTokenPrincipal): Promise<void> {
    if (principal.jti) {
      await this.revocation.revoke(principal.jti, { reason: 'logout', sub: principal.sub, iss: principal.issuer, expiresAt: principal.exp * 1000, actor: principal.sub });
    }
    if (principal.sid) await this.revocation.revokeSession(principal.sub, principal.sid, 'logout', principal.sub);
  }
}
