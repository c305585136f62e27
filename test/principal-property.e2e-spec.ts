import { Controller, Get, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { CurrentPrincipal, JwtDefenseModule, Public, TokenService, type AccessTokenPrincipal } from '@jwt-defense/core';
import { resolveJwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';

type AnyRequest = Record<string, unknown> & { user?: AccessTokenPrincipal; principal?: AccessTokenPrincipal };

/** What Passport-era handlers do: read the principal from `@Req()`. */
@Controller('who')
class WhoController {
  @Get()
  who(@Req() req: AnyRequest, @CurrentPrincipal() principal: AccessTokenPrincipal) {
    return {
      user: req.user?.sub ?? null,
      principal: req.principal?.sub ?? null,
      sameObject: req.user === undefined ? null : req.user === principal,
      decorator: principal.sub,
    };
  }

  @Public()
  @Get('public')
  open(@Req() req: AnyRequest) {
    return { user: req.user === undefined ? null : 'set' };
  }
}

describe.each(ADAPTERS)('the principal on req.user (Passport convention) over %s', (adapter) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function who(principalProperty?: string | false) {
    app = await startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions(principalProperty === undefined ? {} : { principalProperty })), [WhoController]);
    const { token } = await app.get(TokenService).issue('alice', { roles: ['user'] });
    const answer = await request(app.getHttpServer()).get('/who').set('Authorization', `Bearer ${token}`);
    expect(answer.status).toBe(200);
    return answer.body as { user: string | null; principal: string | null; sameObject: boolean | null; decorator: string };
  }

  it('by default, req.user is the verified principal (the same object @CurrentPrincipal() gives)', async () => {
    expect(await who()).toEqual({ user: 'alice', principal: null, sameObject: true, decorator: 'alice' });
  });

  it('principalProperty names another property', async () => {
    expect(await who('principal')).toEqual({ user: null, principal: 'alice', sameObject: null, decorator: 'alice' });
  });

  it('principalProperty: false leaves the request alone; @CurrentPrincipal() still works', async () => {
    expect(await who(false)).toEqual({ user: null, principal: null, sameObject: null, decorator: 'alice' });
  });

  it('a public route without a token has no req.user, and a refused request never reaches a handler', async () => {
    app = await startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions()), [WhoController]);
    expect((await request(app.getHttpServer()).get('/who/public')).body).toEqual({ user: null });
    const refused = await request(app.getHttpServer()).get('/who').set('Authorization', 'Bearer not.a.token');
    expect(refused.status).toBe(401);
  });
});

describe('principalProperty validation', () => {
  const resolve = (principalProperty: unknown) => () => resolveJwtDefenseOptions(fixtureOptions({ principalProperty } as never));

  it('accepts a property name or false, and defaults to user', () => {
    expect(resolveJwtDefenseOptions(fixtureOptions()).principalProperty).toBe('user');
    expect(resolve('auth')().principalProperty).toBe('auth');
    expect(resolve(false)().principalProperty).toBe(false);
  });

  it.each([['__proto__'], ['body'], ['headers'], ['raw'], ['1user'], ['user-name'], [''], [true], [42]])('refuses %p at boot, naming the option', (value) => {
    expect(resolve(value)).toThrow(/principalProperty/);
  });
});
