import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Test, type TestingModule } from '@nestjs/testing';
import { JwtDefenseException } from '../errors/defense.exceptions.js';
import { JwtDefenseModule } from '../jwt-defense.module.js';
import type { JwtDefenseModuleOptions } from '../jwt-defense.options.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import { getPrincipal } from '../policy/current-principal.decorator.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { IncidentService } from '../incident/incident.service.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { DefenseStore } from '../store/defense-store.ports.js';
import { AccessTokenVerifier } from '../issuers/access-token.verifier.js';
import { TokenService } from '../token/token.service.js';
import type { DefenseDecision, DefenseMetricsSink } from './metrics-sink.js';
import { RequestPipeline } from './request-pipeline.js';

const limit = (space: string, max: number) => ({ space, limit: max, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const, insured: true });
const route = (overrides: Partial<RoutePolicy> = {}): RoutePolicy => ({
  isPublic: false,
  name: 'Test.route',
  template: '/route',
  failMode: 'closed',
  ip: limit('ip', 1000),
  user: limit('user', 1000),
  routeId: 'route',
  risk: { mode: 'off', stepUpAt: 0.4, denyAt: 0.8 },
  anomaly: { mode: 'off', containment: 'none' },
  ...overrides,
});

function request(authorization?: string, ip = '203.0.113.1'): IncomingMessage {
  const headers = authorization === undefined ? {} : { authorization };
  const rawHeaders = authorization === undefined ? [] : ['Authorization', authorization];
  return { headers, rawHeaders, url: '/route', socket: { remoteAddress: ip } } as unknown as IncomingMessage;
}

function response(): ServerResponse & { written: Map<string, string> } {
  const written = new Map<string, string>();
  return {
    written,
    headersSent: false,
    setHeader: (name: string, value: string) => written.set(name, value),
    removeHeader: (name: string) => written.delete(name),
  } as unknown as ServerResponse & { written: Map<string, string> };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof JwtDefenseException) return error.code;
    throw error;
  }
  return 'allowed';
}

describe('RequestPipeline', () => {
  let moduleRef: TestingModule;
  let pipeline: RequestPipeline;
  let tokens: TokenService;
  let store: DefenseStore;
  const decisions: DefenseDecision[] = [];
  const metrics: DefenseMetricsSink = { decision: (d) => decisions.push(d), storeCall: () => undefined, cacheLookup: () => undefined };

  const boot = async (overrides: Partial<JwtDefenseModuleOptions> = {}) => {
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: { issuer: 'iss', audience: 'aud', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
          revocation: { cleanupCron: false },
          metrics,
          ...overrides,
        }),
      ],
    }).compile();
    await moduleRef.init();
    pipeline = moduleRef.get(RequestPipeline);
    tokens = moduleRef.get(TokenService);
    store = moduleRef.get(DefenseStore);
  };
  beforeEach(() => boot());
  afterEach(async () => {
    decisions.length = 0;
    jest.restoreAllMocks();
    await moduleRef.close();
  });

  const bearer = async (sub = 'alice', claims: Record<string, unknown> = {}) => `Bearer ${(await tokens.issue(sub, claims)).token}`;

  it('lets a valid token through with ONE store check, puts the principal on the request, writes no-store', async () => {
    const check = jest.spyOn(store, 'check');
    const req = request(await bearer());
    const res = response();
    await pipeline.run(route(), req, res);
    expect(check).toHaveBeenCalledTimes(1);
    expect(check.mock.calls[0][0]).toMatchObject({ sub: 'alice', parts: { userRate: { limit: 1000 } } });
    expect(getPrincipal(req)).toMatchObject({ sub: 'alice' });
    expect(res.written.get('cache-control')).toBe('no-store');
    expect(res.written.get('x-content-type-options')).toBe('nosniff');
  });

  it('a public route costs its rate limit only: no token work, no check', async () => {
    const check = jest.spyOn(store, 'check');
    const hit = jest.spyOn(store, 'hit');
    const res = response();
    await pipeline.run(route({ isPublic: true }), request(), res);
    expect(hit).toHaveBeenCalledTimes(1);
    expect(check).not.toHaveBeenCalled();
    expect(res.written.get('cache-control')).toBe('no-store');
  });

  it('refuses missing, malformed and forged tokens before any store check', async () => {
    const check = jest.spyOn(store, 'check');
    expect(await codeOf(pipeline.run(route(), request(), response()))).toBe('token_missing');
    expect(await codeOf(pipeline.run(route(), request('Bearer a.b.c'), response()))).toBe('token_malformed');
    const token = (await bearer()).slice(7);
    expect(await codeOf(pipeline.run(route(), request(`Bearer ${token.slice(0, -2)}AA`), response()))).toBe('signature_invalid');
    expect(check).not.toHaveBeenCalled();
    expect(decisions.map((d) => [d.layer, d.code])).toEqual([
      ['edge', 'token_missing'],
      ['token', 'token_malformed'],
      ['token', 'signature_invalid'],
    ]);
  });

  it('rate-limits per IP before any token work', async () => {
    const verify = jest.spyOn(moduleRef.get(AccessTokenVerifier), 'verify');
    const tight = route({ ip: limit('ip', 2) });
    expect(await codeOf(pipeline.run(tight, request('Bearer x'), response()))).toBe('token_malformed');
    expect(await codeOf(pipeline.run(tight, request('Bearer x'), response()))).toBe('token_malformed');
    expect(await codeOf(pipeline.run(tight, request('Bearer x'), response()))).toBe('rate_limited');
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('decides in order: a revoked token over its user limit is token_revoked', async () => {
    const auth = await bearer();
    const limited = route({ user: limit('user', 1) });
    await pipeline.run(limited, request(auth), response());
    expect(await codeOf(pipeline.run(limited, request(auth), response()))).toBe('rate_limited');
    await moduleRef.get(RevocationService).revokeAllForUser('alice', 'test');
    expect(await codeOf(pipeline.run(limited, request(auth), response()))).toBe('token_revoked');
  });

  it('answers the global measures from memory, with no store call', async () => {
    const auth = await bearer();
    await moduleRef.get(RevocationService).revokeAllIssuedBefore(Date.now(), 'incident');
    const check = jest.spyOn(store, 'check');
    expect(await codeOf(pipeline.run(route(), request(auth), response()))).toBe('token_revoked');
    expect(check).not.toHaveBeenCalled();
  });

  it('applies an incident lockdown from memory, before the store call: step-up for older tokens, deny-non-admin', async () => {
    const incident = moduleRef.get(IncidentService);
    const before = await bearer('alice', { roles: ['user'] });
    const adminBefore = await bearer('root', { roles: ['admin'] });
    await incident.setLockdown('step-up', { reason: 'test', actor: 'ops' });
    const check = jest.spyOn(store, 'check');
    expect(await codeOf(pipeline.run(route(), request(before), response()))).toBe('insufficient_user_authentication');
    expect(await codeOf(pipeline.run(route(), request(adminBefore), response()))).toBe('insufficient_user_authentication');
    expect(check).not.toHaveBeenCalled();
    await new Promise((resolve) => setTimeout(resolve, 2));
    expect(await codeOf(pipeline.run(route(), request(await bearer('alice', { roles: ['user'] })), response()))).toBe('allowed');

    await incident.setLockdown('deny-non-admin', { reason: 'test' });
    check.mockClear();
    expect(await codeOf(pipeline.run(route(), request(await bearer('alice', { roles: ['user'] })), response()))).toBe('lockdown');
    expect(check).not.toHaveBeenCalled();
    expect(await codeOf(pipeline.run(route(), request(await bearer('root', { roles: ['admin'] })), response()))).toBe('allowed');
    await incident.setLockdown('off', { reason: 'test' });
    expect(await codeOf(pipeline.run(route(), request(before), response()))).toBe('allowed');
  });

  it('authorizes after the store check: roles and scopes', async () => {
    expect(await codeOf(pipeline.run(route({ roles: ['admin'] }), request(await bearer('bob', { roles: ['user'] })), response()))).toBe('insufficient_scope');
    expect(await codeOf(pipeline.run(route({ scopes: ['a', 'b'] }), request(await bearer('bob', { scope: 'a' })), response()))).toBe('insufficient_scope');
    expect(await codeOf(pipeline.run(route({ roles: ['admin'] }), request(await bearer('bob', { roles: ['admin'] })), response()))).toBe('allowed');
  });

  it('applies the route fail mode in one place: closed is 503, open lets through and reports it', async () => {
    jest.spyOn(store, 'check').mockRejectedValue(new DefenseStoreError('down'));
    const auth = await bearer();
    expect(await codeOf(pipeline.run(route({ failMode: 'closed' }), request(auth), response()))).toBe('defense_store_unavailable');
    expect(await codeOf(pipeline.run(route({ failMode: 'open' }), request(auth), response()))).toBe('allowed');
    expect(decisions).toEqual([
      { layer: 'store', outcome: 'reject', code: 'defense_store_unavailable', route: '/route' },
      { layer: 'store', outcome: 'fail_open', code: 'defense_store_unavailable', route: '/route' },
      { layer: 'authorization', outcome: 'allow', route: '/route' },
    ]);
  });

  it('a body-field limit fails closed by default, the IP limit open', async () => {
    jest.spyOn(store, 'hit').mockRejectedValue(new DefenseStoreError('down'));
    const login = route({ isPublic: true, body: { ...limit('body', 5), field: 'username' } });
    const withBody = (req: IncomingMessage) => Object.assign(req, { body: { username: 'Alice' } });
    expect(await codeOf(pipeline.run(login, withBody(request()), response()))).toBe('defense_store_unavailable');
    expect(await codeOf(pipeline.run(route({ isPublic: true }), request(), response()))).toBe('allowed');
  });

  it('runs for one request share the first: a public pass counts the IP limit once, the first authenticated run decides with its own policy, once', async () => {
    const hit = jest.spyOn(store, 'hit');
    const check = jest.spyOn(store, 'check');
    const req = request(await bearer('carl'));
    await pipeline.run(route({ isPublic: true, name: 'Endpoint' }), req, response());
    // Resolvers of one operation, concurrently: one authentication, with the policy of the first to ask.
    const [first, second] = await Promise.all([
      pipeline.run(route({ user: limit('user', 7) }), req, response()),
      pipeline.run(route({ user: limit('user', 9), roles: ['admin'] }), req, response()).catch((error: JwtDefenseException) => error.code),
    ]);
    expect(first).toMatchObject({ sub: 'carl' });
    expect(second).toBe('insufficient_scope');
    expect(hit).toHaveBeenCalledTimes(1);
    expect(check).toHaveBeenCalledTimes(1);
    expect(check.mock.calls[0][0]).toMatchObject({ parts: { userRate: { limit: 7 } } });
  });

  it('shares one frozen principal between requests of the same token', async () => {
    const auth = await bearer('alice', { roles: ['user'] });
    const first = request(auth);
    const second = request(auth);
    await pipeline.run(route(), first, response());
    await pipeline.run(route(), second, response());
    const principal = getPrincipal(first)!;
    expect(getPrincipal(second)).toBe(principal);
    expect(Object.isFrozen(principal)).toBe(true);
    expect(Object.isFrozen(principal.roles)).toBe(true);
    expect(Object.isFrozen(principal.claims)).toBe(true);
    expect(() => (principal.roles as string[]).push('admin')).toThrow(TypeError);
  });
});
