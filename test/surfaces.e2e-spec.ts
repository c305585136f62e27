import { RequestMethod } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import request from 'supertest';
import { Public } from '@jwt-defense/core';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';

// The class of M2 and M3 of the third review (surfaces beside the pipeline): every route, resolver, gateway and
// message handler of the demo, listed from the app itself (so one added later is checked too), either runs the
// pipeline (401 token_missing without a token) or is @Public(); and every one of them gets the per-IP limit and the
// security headers. The GraphQL endpoint is an HTTP surface of its own, whatever resolvers an operation reaches.

const LIMIT = 3;
const TRUSTED = '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128';
/** Headers every answer carries (layer 6), errors and 429s included. */
const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' };

// Nest's metadata keys (the decorators' contract: @Controller/@Get, @Resolver/@Query, @WebSocketGateway, @MessagePattern).
const PATH = 'path';
const METHOD = 'method';
const RESOLVER_TYPE = 'graphql:resolver_type';
const GATEWAY = 'websockets:is_gateway';
const MESSAGE_PATTERN = 'microservices:pattern';

interface Surface {
  kind: 'route' | 'resolver' | 'gateway' | 'message handler';
  name: string;
  isPublic: boolean;
  method?: string;
  path?: string;
}

/** Every surface of the app, from its own metadata. */
function surfacesOf(demo: DemoHandle): Surface[] {
  const discovery = demo.app.get(DiscoveryService);
  const scanner = demo.app.get(MetadataScanner);
  const reflector = demo.app.get(Reflector);
  const surfaces: Surface[] = [];
  const methodsOf = (instance: object) => {
    const prototype = Object.getPrototypeOf(instance) as Record<string, (...args: never[]) => unknown>;
    return scanner.getAllMethodNames(prototype).map((name) => ({ name, handler: prototype[name] }));
  };
  for (const wrapper of discovery.getControllers()) {
    if (!wrapper.instance || !wrapper.metatype) continue;
    const base = String(([] as unknown[]).concat(Reflect.getMetadata(PATH, wrapper.metatype) ?? '')[0]);
    for (const { name, handler } of methodsOf(wrapper.instance as object)) {
      const isPublic = reflector.getAllAndOverride(Public, [handler, wrapper.metatype]) === true;
      if (Reflect.getMetadata(MESSAGE_PATTERN, handler) !== undefined) surfaces.push({ kind: 'message handler', name: `${wrapper.metatype.name}.${name}`, isPublic });
      const path = Reflect.getMetadata(PATH, handler) as string | string[] | undefined;
      if (path === undefined) continue;
      const full = `/${[base, String(([] as unknown[]).concat(path)[0])].map((part) => part.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/')}`;
      surfaces.push({ kind: 'route', name: `${wrapper.metatype.name}.${name}`, isPublic, method: RequestMethod[Reflect.getMetadata(METHOD, handler) as number], path: full });
    }
  }
  for (const wrapper of discovery.getProviders()) {
    if (!wrapper.instance || !wrapper.metatype) continue;
    if (Reflect.getMetadata(GATEWAY, wrapper.metatype)) surfaces.push({ kind: 'gateway', name: wrapper.metatype.name, isPublic: false });
    if (typeof wrapper.instance !== 'object') continue;
    for (const { name, handler } of methodsOf(wrapper.instance as object)) {
      if (typeof handler !== 'function' || Reflect.getMetadata(RESOLVER_TYPE, handler) === undefined) continue;
      surfaces.push({ kind: 'resolver', name: `${wrapper.metatype.name}.${name}`, isPublic: reflector.getAllAndOverride(Public, [handler, wrapper.metatype]) === true });
    }
  }
  return surfaces;
}

describe.each(ADAPTERS)('every surface of the demo over %s', (adapter) => {
  let demo: DemoHandle;
  let client = 0;
  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: String(LIMIT), LOGIN_LIMIT: String(LIMIT), TRUST_PROXY: TRUSTED });
  });
  afterAll(() => demo.close());

  /** A request from a client address of its own (believed from the loopback proxy), so each surface has its own budget. */
  const from = (ip: string, req: request.Test) => req.set('X-Forwarded-For', ip);
  const expectHeaders = (res: request.Response, what: string) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect({ what, status: res.status, [name]: res.headers[name] }).toEqual({ what, status: res.status, [name]: value });
  };
  /** LIMIT answers, then 429 with Retry-After: the per-IP limit of the surface. */
  const expectLimited = async (send: (ip: string) => request.Test, what: string, check: (res: request.Response) => void) => {
    const ip = `198.18.${Math.floor(client / 250)}.${(client++ % 250) + 1}`;
    for (let i = 0; i < LIMIT; i++) {
      const res = await send(ip);
      expect({ what, status: res.status === 429 ? 429 : 'answered' }).toEqual({ what, status: 'answered' });
      expectHeaders(res, what);
      check(res);
    }
    const limited = await send(ip);
    // GraphQL over HTTP: the status is the driver's (a GraphQL error may come with 200), the code and Retry-After ours.
    const code = limited.body?.code ?? limited.body?.errors?.[0]?.extensions?.code;
    expect({ what, refused: limited.status === 429 || limited.body?.errors !== undefined, code }).toEqual({ what, refused: true, code: 'rate_limited' });
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expectHeaders(limited, what);
  };

  it('lists its surfaces from the app: routes and resolvers; no gateway or message handler goes unlisted', () => {
    const surfaces = surfacesOf(demo);
    expect(surfaces.filter((surface) => surface.kind === 'route').length).toBeGreaterThanOrEqual(20);
    expect(surfaces.filter((surface) => surface.kind === 'resolver').map((surface) => surface.name)).toEqual(['MeResolver.me']);
    // The demo has none: one added later must get its own case below (and DefenseWsConnections or the guard's watch).
    expect(surfaces.filter((surface) => surface.kind === 'gateway' || surface.kind === 'message handler')).toEqual([]);
  });

  it('every HTTP route runs the pipeline (401 token_missing without a token) or is @Public(); each has the per-IP limit and the headers', async () => {
    const routes = surfacesOf(demo).filter((surface) => surface.kind === 'route');
    const authenticating: Array<{ what: string; send: (ip: string, token?: string) => request.Test }> = [];
    for (const route of routes) {
      const path = route.path!.replace(/:([A-Za-z_]+)/g, 'sample-$1');
      const what = `${route.method} ${route.path} (${route.name})`;
      const send = (ip: string, token?: string) => {
        const req = from(ip, request(demo.server)[route.method!.toLowerCase() as 'get' | 'post'](path)).set('Content-Type', 'application/json');
        return (token ? req.set('Authorization', `Bearer ${token}`) : req).send('{}');
      };
      const first = await send(`203.0.113.${(client % 250) + 1}`);
      const authenticates = first.status === 401 && first.body.code === 'token_missing';
      // Either the pipeline asked for a token, or the route is public by its own metadata: never a silent 2xx.
      expect({ what, runsPipelineOrPublic: authenticates || route.isPublic }).toEqual({ what, runsPipelineOrPublic: true });
      if (authenticates) {
        expect(first.headers['www-authenticate']).toBe('Bearer realm="api"');
        authenticating.push({ what, send });
      }
      await expectLimited((ip) => send(ip), what, (res) => {
        if (authenticates) expect({ what, code: res.body.code }).toEqual({ what, code: 'token_missing' });
      });
    }
    // What only the pipeline does: a step-up lockdown refuses an admin token from before it, on every route that takes
    // a token (a route checking tokens beside the pipeline would still serve it).
    const loginFrom = async (ip: string) => (await from(ip, request(demo.server).post('/auth/login')).send({ username: 'admin', password: 'admin-password' })).body.access_token as string;
    const stale = await loginFrom('192.0.2.10');
    expect((await from('192.0.2.11', request(demo.server).post('/admin/incident/lockdown')).set('Authorization', `Bearer ${stale}`).send({ mode: 'step-up', reason: 'surface test' })).status).toBe(200);
    try {
      for (const { what, send } of authenticating) {
        const res = await send(`192.0.2.${(client++ % 200) + 20}`, stale);
        expect({ what, status: res.status, code: res.body.code }).toEqual({ what, status: 401, code: 'insufficient_user_authentication' });
      }
    } finally {
      const fresh = await loginFrom('192.0.2.12');
      expect((await from('192.0.2.13', request(demo.server).post('/admin/incident/lockdown')).set('Authorization', `Bearer ${fresh}`).send({ mode: 'off', reason: 'surface test' })).status).toBe(200);
    }
    expect(authenticating.map(({ what }) => what)).toEqual(expect.arrayContaining([expect.stringMatching(/^GET \/metrics /), expect.stringMatching(/^GET \/me /)]));
  });

  it('the GraphQL endpoint: a resolver runs the pipeline; an operation that reaches none still has the per-IP limit and the headers', async () => {
    const graphql = (query: string) => (ip: string) => from(ip, request(demo.server).post('/graphql')).set('Content-Type', 'application/json').send({ query });
    await expectLimited(graphql('{ me { sub } }'), 'POST /graphql { me }', (res) => expect(res.body.errors[0].extensions.code).toBe('token_missing'));
    await expectLimited(graphql('{ __typename }'), 'POST /graphql { __typename }', () => undefined);
    await expectLimited(graphql('{ __schema { queryType { name } } }'), 'POST /graphql introspection', (res) => expect(res.body.errors[0].extensions.code).toBe('token_missing'));
  });
});
