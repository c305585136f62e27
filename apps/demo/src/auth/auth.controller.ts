import { randomBytes } from 'node:crypto';
import { Body, Controller, HttpCode, NotImplementedException, Post, UnauthorizedException } from '@nestjs/common';
import { Public, TokenService, defenseErrorBody } from '@jwt-defense/core';
import { LoginDto, RefreshDto } from './auth.dto.js';
import { UsersService } from './users.service.js';

/** OAuth-style token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly tokens: TokenService,
  ) {}

  /** Throttled per IP and per username (see DemoThrottlerGuard), failed and successful attempts alike. */
  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: LoginDto): Promise<TokenResponse> {
    const user = await this.users.verifyCredentials(body.username, body.password);
    // One answer for an unknown user and a wrong password.
    if (!user) throw new UnauthorizedException(defenseErrorBody(401, 'invalid_credentials'));
    const access = await this.tokens.issue(user.username, { roles: [...user.roles] });
    return {
      access_token: access.token,
      // Opaque for now; rotation and reuse detection arrive with the revocation layer.
      refresh_token: randomBytes(32).toString('base64url'),
      token_type: 'Bearer',
      expires_in: access.expiresInSec,
    };
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  refresh(@Body() _body: RefreshDto): never {
    throw new NotImplementedException();
  }

  @Post('logout')
  @HttpCode(204)
  logout(): never {
    throw new NotImplementedException();
  }
}
