import { Body, Controller, Get, HttpCode, Post, Query, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  CurrentPrincipal,
  DefensePolicy,
  JwtDefenseModule,
  Public,
  RefreshTokenService,
  RevocationService,
  TokenService,
  type AccessTokenPrincipal,
} from '@jwt-defense/core';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';

// A user's own app (not the demo): its handlers call the module's services and catch nothing. What they throw for a
// refused token reaches the client as the module's 401 with its code and challenge, never a 500 (#22, item 4).

@DefensePolicy({ throttle: false })
@Controller('own')
class OwnAuthController {
  constructor(
    private readonly refreshTokens: RefreshTokenService,
    private readonly revocation: RevocationService,
    private readonly tokens: TokenService,
  ) {}

  @Public()
  @Post('login')
  @HttpCode(200)
  async login() {
    const pair = await this.refreshTokens.issuePair('alice', { roles: ['user'] });
    return { access_token: pair.accessToken.token, refresh_token: pair.refreshToken };
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Body() body: { refresh_token: string }) {
    const pair = await this.refreshTokens.refresh(body.refresh_token);
    return { access_token: pair.accessToken.token, refresh_token: pair.refreshToken };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@CurrentPrincipal() principal: AccessTokenPrincipal) {
    await this.revocation.revokeSession(principal.sub, principal.sid!, 'logout', principal.sub);
  }

  @Public()
  @Get('inspect')
  async inspect(@Query('token') token: string) {
    return { sub: (await this.tokens.verify(token)).sub };
  }
}

describe.each(['express', 'fastify'] as const)('refresh errors in an app of its own, on %s', (adapter) => {
  let app: INestApplication;
  const server = () => app.getHttpServer();
  const login = async () => (await request(server()).post('/own/login').send({})).body as { access_token: string; refresh_token: string };
  const refresh = (refreshToken: unknown) => request(server()).post('/own/refresh').send({ refresh_token: refreshToken });

  beforeAll(async () => {
    app = await startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: false } })), [OwnAuthController]);
  });
  afterAll(async () => {
    await app.close();
  });

  /** The module's answer to a refused token: 401, its code, the Bearer challenge, nothing of the token echoed. */
  const expectRefused = (response: request.Response, code: string, sent?: string) => {
    expect({ status: response.status, code: response.body.code }).toEqual({ status: 401, code });
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+", error="invalid_token"$/);
    expect(response.headers['cache-control']).toBe('no-store');
    if (sent) expect(response.text).not.toContain(sent);
  };

  it('garbage, an empty string and a value that is not a string: 401 token_malformed', async () => {
    expectRefused(await refresh('not-a-refresh-token'), 'token_malformed', 'not-a-refresh-token');
    expectRefused(await refresh(''), 'token_malformed');
    expectRefused(await refresh(42), 'token_malformed');
  });

  it('a forged refresh token (its MAC replaced): 401 signature_invalid', async () => {
    const { refresh_token: genuine } = await login();
    const parts = genuine.split('.');
    const forged = [...parts.slice(0, 3), 'A'.repeat(parts[3].length)].join('.');
    expectRefused(await refresh(forged), 'signature_invalid', forged);
  });

  it('a session the store does not know (or one that ended): 401 token_expired', async () => {
    const { refresh_token: genuine } = await login();
    const [tag, sid, , macText] = genuine.split('.');
    const unknown = [tag, 'B'.repeat(sid.length), '0', macText].join('.');
    expectRefused(await refresh(unknown), 'token_expired');
  });

  it('a rotated refresh token used again: 401 token_revoked, and its whole family is dead', async () => {
    const first = await login();
    const rotated = await refresh(first.refresh_token);
    expect(rotated.status).toBe(200);
    expectRefused(await refresh(first.refresh_token), 'token_revoked');
    expectRefused(await refresh(rotated.body.refresh_token), 'token_revoked');
  });

  it('after a logout: 401 token_revoked', async () => {
    const session = await login();
    expect((await request(server()).post('/own/logout').set('Authorization', `Bearer ${session.access_token}`)).status).toBe(204);
    expectRefused(await refresh(session.refresh_token), 'token_revoked');
  });

  it('TokenService.verify() in a handler: a refused token is the 401 of its code too', async () => {
    const { access_token: token } = await login();
    expect((await request(server()).get('/own/inspect').query({ token })).body).toEqual({ sub: 'alice' });
    const forged = `${token.slice(0, -4)}AAAA`;
    expectRefused(await request(server()).get('/own/inspect').query({ token: forged }), 'signature_invalid', forged);
  });
});
