import request from 'supertest';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';

// The demo's `POST /graphql { me { sub roles } }` (Apollo on Express, Mercurius on Fastify): the same defence as
// `GET /me`, refusals as GraphQL errors carrying the REST code.

const codeOf = (res: request.Response) => res.body.errors?.[0]?.extensions?.code as string | undefined;

describe.each(ADAPTERS)('demo POST /graphql over %s', (adapter) => {
  let demo: DemoHandle;
  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' });
  });
  afterAll(() => demo?.close());

  const login = async (username: string) =>
    (await request(demo.server).post('/auth/login').send({ username, password: `${username}-password` })).body.access_token as string;
  const me = (token?: string, query = '{ me { sub roles } }') => {
    const req = request(demo.server).post('/graphql').send({ query });
    return token ? req.set('Authorization', `Bearer ${token}`) : req;
  };

  it('with a valid token answers data.me, with the security headers', async () => {
    const token = await login('alice');
    const res = await me(token, '{ me { sub roles jti exp } }');
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.me).toMatchObject({ sub: 'alice', roles: ['user'] });
    expect(res.body.data.me.jti).toBe(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('without a token, with a revoked or a hostile one: the REST code in extensions.code, no data, no stack, no echo', async () => {
    const token = await login('alice');
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${token.split('.')[1]}.`;
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'token_missing'],
      ['a.b.c', 'token_malformed'],
      [`${token.slice(0, -6)}AAAAAA`, 'signature_invalid'],
      [none, 'algorithm_not_allowed'],
    ];
    for (const [presented, code] of cases) {
      const res = await me(presented);
      expect(codeOf(res)).toBe(code);
      // The HTTP answer behind the GraphQL error still carries the challenge and the security headers.
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+"/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.body.data ?? null).toBeNull();
      const text = JSON.stringify(res.body);
      expect(text).not.toMatch(/stacktrace|\bat \//i);
      if (presented) expect(text).not.toContain(presented.split('.')[1] || presented);
    }
    expect((await request(demo.server).post('/auth/logout').set('Authorization', `Bearer ${token}`)).status).toBe(204);
    expect(codeOf(await me(token))).toBe('token_revoked');
  });

  it('schema introspection needs a token (token_missing with the challenge); __typename alone needs none, with the headers', async () => {
    const introspection = '{ __schema { queryType { name } } }';
    const refused = await me(undefined, introspection);
    expect(refused.status).toBe(401);
    expect(codeOf(refused)).toBe('token_missing');
    expect(refused.body.data).toBeUndefined();
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+"$/);
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    expect((await me(await login('alice'), introspection)).body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    const typename = await me(undefined, '{ __typename }');
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });
    expect(typename.headers['x-content-type-options']).toBe('nosniff');
    expect(typename.headers['x-frame-options']).toBe('DENY');
  });
});

describe.each(ADAPTERS)('demo POST /graphql over %s, THROTTLE_LIMIT', (adapter) => {
  let demo: DemoHandle;
  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '3', LOGIN_LIMIT: '100000' });
  });
  afterAll(() => demo?.close());

  it('counts every HTTP request to the endpoint per IP, operations that reach no resolver included', async () => {
    const typename = () => request(demo.server).post('/graphql').send({ query: '{ __typename }' });
    for (let i = 0; i < 3; i++) expect((await typename()).body).toEqual({ data: { __typename: 'Query' } });
    const refused = await typename();
    expect(refused.status).toBe(429);
    expect(codeOf(refused)).toBe('rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
  });
});
