import request from 'supertest';
import { io, type Socket } from 'socket.io-client';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { IncidentService, RevocationService, TokenService, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { DefenseClock } from '../libs/jwt-defense/src/common/defense-clock.js';
import { ADAPTERS } from './support/demo-app.js';
import { createClient } from 'graphql-ws';
import { WebSocket, type CloseEvent } from 'ws';
import { freePort, RedisServer } from './support/redis-server.js';
import { startTransportsApp, type TransportsApp } from './fixtures/transports.fixture.js';

// Every Nest transport goes through the defence: GraphQL (Apollo on Express, Mercurius on Fastify), WebSocket
// gateways (socket.io) and a TCP microservice, with the same pipeline, policies and codes as REST.

const errorCode = (res: request.Response) => res.body.errors?.[0]?.extensions?.code as string | undefined;

describe.each(ADAPTERS)('transports over %s', (adapter) => {
  let fixture: TransportsApp;
  let url: string;
  let tcp: ClientProxy;
  let tokens: TokenService;
  const sockets: Socket[] = [];
  // Every `exception` event a socket received, recorded from before it connected (a refusal can arrive in the same
  // read as the connect packet).
  const exceptions = new WeakMap<Socket, { code: string }[]>();

  beforeAll(async () => {
    fixture = await startTransportsApp(
      adapter,
      { throttle: { ip: { limit: 100_000, ttlMs: 60_000 }, user: { limit: 100_000, ttlMs: 60_000 } }, transports: { wsRecheckSec: 1 } },
      { tcpPort: await freePort() },
    );
    url = `http://127.0.0.1:${(fixture.app.getHttpServer().address() as AddressInfo).port}`;
    tcp = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: fixture.tcpPort! } });
    await tcp.connect();
    tokens = fixture.app.get(TokenService);
  }, 30_000);
  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    tcp?.close();
    await fixture?.app.close();
  });

  const bearer = async (sub = 'alice', roles = ['user']) => (await tokens.issue(sub, { roles })).token;
  const gql = (query: string, token?: string) => {
    const req = request(fixture.app.getHttpServer()).post('/graphql').send({ query });
    return token ? req.set('Authorization', `Bearer ${token}`) : req;
  };
  const connect = (options: { token?: string; header?: string; namespace?: string } = {}) =>
    new Promise<Socket>((resolve) => {
      const socket = io(`${url}${options.namespace ?? ''}`, {
        transports: ['websocket'],
        auth: options.token ? { token: options.token } : {},
        extraHeaders: options.header ? { authorization: options.header } : undefined,
        reconnection: false,
      });
      sockets.push(socket);
      exceptions.set(socket, []);
      socket.on('exception', (body: { code: string }) => exceptions.get(socket)!.push(body));
      socket.on('connect', () => resolve(socket));
      socket.on('connect_error', () => resolve(socket));
    });
  const emit = (socket: Socket, event: string) =>
    new Promise<{ ok?: unknown; exception?: { code: string } }>((resolve) => {
      const onException = (exception: { code: string }) => resolve({ exception });
      socket.once('exception', onException);
      socket.emit(event, {}, (ok: unknown) => {
        socket.off('exception', onException);
        resolve({ ok });
      });
    });
  const closed = (socket: Socket) => new Promise<{ exception?: { code: string } }>((resolve) => {
    const last = () => ({ exception: exceptions.get(socket)!.at(-1) });
    if (socket.disconnected) resolve(last());
    socket.on('disconnect', () => resolve(last()));
  });
  const send = (pattern: string, data: object): Promise<{ ok?: unknown; error?: { code: string } }> =>
    firstValueFrom(tcp.send(pattern, data)).then((ok: unknown) => ({ ok }), (error: { code: string }) => ({ error }));

  describe('GraphQL', () => {
    it('a resolver is refused without a token, with the code a REST route would answer', async () => {
      const res = await gql('{ me { sub roles } }');
      expect(errorCode(res)).toBe('token_missing');
      expect(res.body.data ?? null).toBeNull();
      expect(JSON.stringify(res.body)).not.toMatch(/stack|at \//);
    });

    it('sees the principal with a valid token; @Public works; a missing role is insufficient_scope', async () => {
      const token = await bearer();
      expect((await gql('{ me { sub roles } }', token)).body.data.me).toEqual({ sub: 'alice', roles: ['user'] });
      expect((await gql('{ ping }')).body.data.ping).toBe('pong');
      expect(errorCode(await gql('{ admin }', token))).toBe('insufficient_scope');
      expect((await gql('{ admin }', await bearer('root', ['admin']))).body.data.admin).toBe('hello admin');
    });

    it('a revoked token is token_revoked; hostile tokens get the REST codes, never a crash', async () => {
      const token = await bearer('bob');
      const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;
      await fixture.app.get(RevocationService).revoke(jti, { reason: 'test' });
      expect(errorCode(await gql('{ me { sub } }', token))).toBe('token_revoked');
      expect(errorCode(await gql('{ me { sub } }', 'a.b.c'))).toBe('token_malformed');
      expect(errorCode(await gql('{ me { sub } }', `${token.slice(0, -4)}AAAA`))).toBe('signature_invalid');
      const none = `${Buffer.from('{"alg":"none","typ":"at+jwt","kid":"fixture-hs"}').toString('base64url')}.${token.split('.')[1]}.`;
      expect(errorCode(await gql('{ me { sub } }', none))).toBe('algorithm_not_allowed');
    });
  });

  describe('every HTTP request to the GraphQL endpoint', () => {
    const jti = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti as string;
    const schema = { queryType: { name: 'Query' } };
    const introspections: Array<[string, string, object]> = [
      ['__schema', '{ __schema { queryType { name } } }', { __schema: schema }],
      ['__type', '{ __type(name: "Me") { name } }', { __type: { name: 'Me' } }],
      ['__schema under an alias', '{ schema: __schema { queryType { name } } }', { schema }],
      ['__schema in a fragment', 'query { ...Intro } fragment Intro on Query { __schema { queryType { name } } }', { __schema: schema }],
      ['__type in an inline fragment, aliased', '{ ... on Query { kind: __type(name: "Me") { name } } }', { kind: { name: 'Me' } }],
      ['__type beside a public field', '{ ping __type(name: "Me") { name } }', { ping: 'pong', __type: { name: 'Me' } }],
    ];
    const get = (query: string, token?: string) => {
      // Apollo runs a GET only with a header a cross-site form cannot send (its CSRF prevention).
      const req = request(fixture.app.getHttpServer()).get('/graphql').query({ query }).set('apollo-require-preflight', 'true');
      return token ? req.set('Authorization', `Bearer ${token}`) : req;
    };
    const post = (body: object, token?: string) => {
      const req = request(fixture.app.getHttpServer()).post('/graphql').send(body);
      return token ? req.set('Authorization', `Bearer ${token}`) : req;
    };

    it('gets the per-IP limit, counted once per HTTP request, and the security headers, whatever resolvers it runs', async () => {
      const limited = await startTransportsApp(adapter, { throttle: { ip: { limit: 5, ttlMs: 60_000 }, headers: true } });
      try {
        const server = limited.app.getHttpServer();
        const token = (await limited.app.get(TokenService).issue('nina', { roles: ['user'] })).token;
        const send = (body: object, bearer?: string) => (bearer ? request(server).post('/graphql').set('Authorization', `Bearer ${bearer}`) : request(server).post('/graphql')).send(body);
        const requests: Array<[string, () => Promise<request.Response>]> = [
          ['an operation with only __typename', () => send({ query: '{ __typename }' })],
          ['a public resolver and two guarded ones', () => send({ query: '{ ping me { sub } again: me { sub } }' }, token)],
          ['a batch of three operations', () => send([{ query: '{ __typename }' }, { query: '{ ping }' }, { query: '{ me { sub } }' }], token)],
          ['GET with ?query=', () => request(server).get('/graphql').query({ query: '{ __typename }' }).set('apollo-require-preflight', 'true')],
          ['introspection with a token', () => send({ query: '{ __schema { queryType { name } } }' }, token)],
        ];
        for (const [index, [name, sent]] of requests.entries()) {
          const res = await sent();
          const results = Array.isArray(res.body) ? res.body : [res.body];
          expect({ name, status: res.status, errors: results.flatMap((result: { errors?: unknown[] }) => result.errors ?? []) }).toEqual({ name, status: 200, errors: [] });
          expect({ name, remaining: /"ip";r=(\d+)/.exec(String(res.headers.ratelimit))?.[1] }).toEqual({ name, remaining: String(5 - index - 1) });
          expect({ name, nosniff: res.headers['x-content-type-options'], frame: res.headers['x-frame-options'], csp: res.headers['content-security-policy'] }).toEqual({
            name,
            nosniff: 'nosniff',
            frame: 'DENY',
            csp: "default-src 'none'; frame-ancestors 'none'",
          });
        }
        // Over the limit: refused before the driver, whatever the request asks, with the REST answer's headers.
        for (const refused of [await send({ query: '{ __typename }' }), await send({ query: '{ __schema { queryType { name } } }' }, token)]) {
          expect(refused.status).toBe(429);
          expect(errorCode(refused)).toBe('rate_limited');
          expect(refused.body.data).toBeUndefined();
          expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
          expect(refused.headers['x-content-type-options']).toBe('nosniff');
          expect(refused.headers['cache-control']).toBe('no-store');
        }
      } finally {
        await limited.app.close();
      }
    });

    it.each(introspections)('introspection (%s) needs a token: token_missing with the challenge, data with a valid token', async (_name, query, data) => {
      for (const res of [await gql(query), await get(query), await post([{ query: '{ ping }' }, { query }])]) {
        expect(res.status).toBe(401);
        expect(errorCode(res)).toBe('token_missing');
        expect(res.body.data).toBeUndefined();
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+"$/);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
      expect((await gql(query, await bearer('olga'))).body).toEqual({ data });
    });

    it('introspection with a revoked or hostile token gets its code; __typename alone and public resolvers need none', async () => {
      const token = await bearer('pia');
      await fixture.app.get(RevocationService).revoke(jti(token), { reason: 'test' });
      expect(errorCode(await gql(introspections[0][1], token))).toBe('token_revoked');
      expect(errorCode(await gql(introspections[0][1], 'a.b.c'))).toBe('token_malformed');
      expect(errorCode(await gql(introspections[1][1], `${(await bearer('pia')).slice(0, -4)}AAAA`))).toBe('signature_invalid');
      expect((await gql('{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });
      // A string that names __schema is no introspection.
      expect((await gql('{ ping(echo: "__schema") __typename }')).body).toEqual({ data: { ping: '__schema', __typename: 'Query' } });
    });

    it('an introspection operation may not be registered as a persisted query (its hash alone would skip the check)', async () => {
      const query = introspections[0][1];
      const extensions = { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(query).digest('hex') } };
      const res = await post({ query, extensions }, await bearer('quinn'));
      expect(res.status).toBe(400);
      expect(errorCode(res)).toBe('invalid_request');
      expect(res.body.data).toBeUndefined();
    });

    it('transports.graphql.publicIntrospection answers introspection without a token, and resolvers still need theirs', async () => {
      const open = await startTransportsApp(adapter, { transports: { graphql: { publicIntrospection: true } } });
      try {
        const res = await request(open.app.getHttpServer()).post('/graphql').send({ query: introspections[0][1] });
        expect(res.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(errorCode(await request(open.app.getHttpServer()).post('/graphql').send({ query: '{ __schema { queryType { name } } me { sub } }' }))).toBe('token_missing');
      } finally {
        await open.app.close();
      }
    });

    it("after the endpoint's public pass, the first guarded resolver authenticates with its own policy (@DefensePolicy user limit)", async () => {
      for (const [sub, query] of [
        ['rae', '{ limited }'],
        ['sam', '{ ping limited }'],
      ]) {
        const token = await bearer(sub);
        expect((await gql(query, token)).body.data.limited).toBe(sub);
        // `limited` allows one request per minute per user: the second is refused, a public field before it or not.
        expect(errorCode(await gql(query, token))).toBe('rate_limited');
      }
    });
  });

  describe('WebSocket gateways (socket.io)', () => {
    it('a connection without a token is closed at once with token_missing; a message to an open gateway is refused', async () => {
      const socket = await connect();
      expect((await closed(socket)).exception?.code).toBe('token_missing');
      const plain = await connect({ namespace: '/plain' });
      expect((await emit(plain, 'whoami')).exception?.code).toBe('token_missing');
    });

    it('with a valid token (auth payload or Authorization header) each message sees the principal; a missing role is insufficient_scope', async () => {
      const socket = await connect({ token: await bearer() });
      expect((await emit(socket, 'whoami')).ok).toEqual({ sub: 'alice', roles: ['user'] });
      expect((await emit(socket, 'admin')).exception?.code).toBe('insufficient_scope');
      const viaHeader = await connect({ header: `Bearer ${await bearer('carol')}` });
      expect((await emit(viaHeader, 'whoami')).ok).toEqual({ sub: 'carol', roles: ['user'] });
    });

    it('a revoked token: the next message is refused and the socket is closed, with a reason the client reads', async () => {
      const token = await bearer('dave');
      const socket = await connect({ token });
      expect((await emit(socket, 'whoami')).ok).toMatchObject({ sub: 'dave' });
      const ended = closed(socket);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await fixture.app.get(RevocationService).revokeAllForUser('dave', 'stolen');
      expect((await emit(socket, 'whoami')).exception?.code).toBe('token_revoked');
      expect((await ended).exception?.code).toBe('token_revoked');
    });

    it('an idle socket whose token is revoked is closed by the re-check (transports.wsRecheckSec), without sending anything', async () => {
      const socket = await connect({ token: await bearer('gina') });
      expect(socket.connected).toBe(true);
      const ended = closed(socket);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await fixture.app.get(RevocationService).revokeAllForUser('gina', 'stolen');
      expect((await ended).exception?.code).toBe('token_revoked');
    });

    it('hostile tokens get the REST codes: a forged handshake is closed, an unsigned token on an open gateway refused', async () => {
      const token = await bearer('hal');
      const forged = await connect({ token: `${token.slice(0, -4)}AAAA` });
      expect((await closed(forged)).exception?.code).toBe('signature_invalid');
      const none = `${Buffer.from('{"alg":"none","typ":"at+jwt","kid":"fixture-hs"}').toString('base64url')}.${token.split('.')[1]}.`;
      const plain = await connect({ namespace: '/plain', token: none });
      expect((await emit(plain, 'whoami')).exception?.code).toBe('algorithm_not_allowed');
      expect((await emit(await connect({ namespace: '/plain', token: 'a.b.c' }), 'whoami')).exception?.code).toBe('token_malformed');
      // A DPoP-bound token cannot be used without its proof, which a socket cannot carry.
      const bound = (await tokens.issue('hal', { roles: ['user'], cnf: { jkt: 'x'.repeat(43) } })).token;
      expect((await closed(await connect({ token: bound }))).exception?.code).toBe('invalid_dpop_proof');
    });
  });

  describe('GraphQL batching', () => {
    it('queries batched in one HTTP request (and fields of one query) are counted and decided once', async () => {
      const limited = await startTransportsApp(adapter, { throttle: { ip: { limit: 100_000, ttlMs: 60_000 }, user: { limit: 2, ttlMs: 60_000 } } });
      try {
        const token = (await limited.app.get(TokenService).issue('ivy', { roles: ['user'] })).token;
        const post = (body: object) => request(limited.app.getHttpServer()).post('/graphql').set('Authorization', `Bearer ${token}`).send(body);
        const batch = await post(Array.from({ length: 5 }, () => ({ query: '{ me { sub } again: me { sub } }' })));
        expect(batch.body).toHaveLength(5);
        for (const result of batch.body) expect(result.data).toEqual({ me: { sub: 'ivy' }, again: { sub: 'ivy' } });
        const second = await post({ query: '{ me { sub } }' });
        expect(second.body.errors).toBeUndefined();
        expect(second.body.data.me.sub).toBe('ivy');
        // The third HTTP request is over the limit of 2: the batch above was one.
        expect(errorCode(await post({ query: '{ me { sub } }' }))).toBe('rate_limited');
      } finally {
        await limited.app.close();
      }
    });
  });

  describe('TCP microservice', () => {
    it('a handler is refused without a token, sees the principal with one, and refuses a missing role or a hostile token', async () => {
      expect((await send('whoami', {})).error?.code).toBe('token_missing');
      expect((await send('whoami', { authorization: `Bearer ${await bearer('erin')}` })).ok).toEqual({ sub: 'erin', roles: ['user'] });
      expect((await send('whoami', { authorization: await bearer('erin') })).ok).toMatchObject({ sub: 'erin' });
      expect((await send('admin', { authorization: `Bearer ${await bearer('erin')}` })).error?.code).toBe('insufficient_scope');
      expect((await send('whoami', { authorization: 'Bearer x.y.z' })).error?.code).toBe('token_malformed');
      const valid = await bearer('erin');
      expect((await send('whoami', { authorization: `Bearer ${valid.slice(0, -4)}AAAA` })).error?.code).toBe('signature_invalid');
      const unsigned = `${Buffer.from('{"alg":"none","typ":"at+jwt","kid":"fixture-hs"}').toString('base64url')}.${valid.split('.')[1]}.`;
      expect((await send('whoami', { authorization: `Bearer ${unsigned}` })).error?.code).toBe('algorithm_not_allowed');
      // A DPoP-bound token cannot be used without its proof, which no message carries.
      const bound = (await tokens.issue('erin', { roles: ['user'], cnf: { jkt: 'x'.repeat(43) } })).token;
      expect((await send('whoami', { authorization: `Bearer ${bound}` })).error?.code).toBe('invalid_dpop_proof');
      expect((await send('whoami', { authorization: `DPoP ${bound}` })).error?.code).toBe('invalid_dpop_proof');
      const revoked = await bearer('fred');
      await new Promise((resolve) => setTimeout(resolve, 5));
      await fixture.app.get(RevocationService).revokeAllForUser('fred', 'test');
      expect((await send('whoami', { authorization: `Bearer ${revoked}` })).error?.code).toBe('token_revoked');
    });
  });
});

describe.each([
  ['express', 'Apollo, graphql-ws'],
  ['fastify', 'Mercurius'],
] as const)('GraphQL subscriptions over %s (%s)', (adapter, _driver) => {
  let fixture: TransportsApp;
  let url: string;
  beforeAll(async () => {
    fixture = await startTransportsApp(adapter, {}, { subscriptions: true });
    url = `ws://127.0.0.1:${(fixture.app.getHttpServer().address() as AddressInfo).port}/graphql`;
  }, 30_000);
  afterAll(async () => {
    await fixture?.app.close();
  });

  /** The first event or error of a `greetings` subscription with these connection parameters. */
  const subscribe = async (connectionParams: Record<string, unknown>) => {
    const client = createClient({ url, webSocketImpl: WebSocket, connectionParams, lazy: true, retryAttempts: 0 });
    try {
      return await new Promise<{ data?: unknown; code?: string }>((resolve) => {
        client.subscribe(
          { query: 'subscription { greetings }' },
          {
            next: (result) => resolve(result.errors ? { code: result.errors[0].extensions?.code as string } : { data: result.data }),
            // Mercurius hands a refused subscription's errors to `error`.
            error: (error) => resolve({ code: (Array.isArray(error) ? error[0]?.extensions?.code : (error as { message?: string })?.message) ?? 'error' }),
            complete: () => undefined,
          },
        );
      });
    } finally {
      await client.dispose();
    }
  };

  it('the token comes from the connection parameters: refused without one, revoked or forged; the principal with a valid one', async () => {
    const tokens = fixture.app.get(TokenService);
    expect(await subscribe({})).toEqual({ code: 'token_missing' });
    const token = (await tokens.issue('mia', { roles: ['user'] })).token;
    expect(await subscribe({ authorization: `Bearer ${token}` })).toEqual({ data: { greetings: 'hello mia' } });
    expect(await subscribe({ token })).toEqual({ data: { greetings: 'hello mia' } });
    expect(await subscribe({ token: `${token.slice(0, -4)}AAAA` })).toEqual({ code: 'signature_invalid' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await fixture.app.get(RevocationService).revokeAllForUser('mia', 'stolen');
    expect(await subscribe({ token })).toEqual({ code: 'token_revoked' });
  });
});

describe('microservice over the Redis transport', () => {
  let redis: RedisServer;
  let fixture: TransportsApp;
  let client: ClientProxy;

  beforeAll(async () => {
    redis = await RedisServer.start();
    fixture = await startTransportsApp('express', {}, { redisPort: redis.port });
    client = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redis.port } });
    await client.connect();
  }, 30_000);
  afterAll(async () => {
    await client?.close();
    await fixture?.app.close();
    await redis?.destroy();
  });

  const send = (pattern: string, data: object): Promise<{ ok?: unknown; error?: { code: string } }> =>
    firstValueFrom(client.send(pattern, data)).then((ok: unknown) => ({ ok }), (error: { code: string }) => ({ error }));

  it('the same defence as TCP: no token, a valid one, a missing role, a revoked token', async () => {
    const tokens = fixture.app.get(TokenService);
    expect((await send('whoami', {})).error?.code).toBe('token_missing');
    const token = (await tokens.issue('jay', { roles: ['user'] })).token;
    expect((await send('whoami', { authorization: `Bearer ${token}` })).ok).toEqual({ sub: 'jay', roles: ['user'] });
    expect((await send('admin', { authorization: `Bearer ${token}` })).error?.code).toBe('insufficient_scope');
    expect((await send('whoami', { authorization: 'Bearer x.y.z' })).error?.code).toBe('token_malformed');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await fixture.app.get(RevocationService).revokeAllForUser('jay', 'test');
    expect((await send('whoami', { authorization: `Bearer ${token}` })).error?.code).toBe('token_revoked');
  });
});

describe('WebSocket gateways on the native ws adapter', () => {
  let fixture: TransportsApp;
  let url: string;
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    fixture = await startTransportsApp('express', { transports: { wsRecheckSec: 1 } }, { nativeWs: true });
    url = `ws://127.0.0.1:${(fixture.app.getHttpServer().address() as AddressInfo).port}`;
  }, 30_000);
  afterAll(async () => {
    for (const client of clients) client.terminate();
    await fixture?.app.close();
  });

  /** A client that records every message and its close code and reason. */
  const open = (token?: string) => {
    const client = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    clients.push(client);
    const messages: { event?: string; data?: { code?: string }; sub?: string }[] = [];
    client.on('message', (data) => messages.push(JSON.parse(String(data))));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    const opened = new Promise<void>((resolve) => client.on('open', () => resolve()));
    const next = async () => {
      const count = messages.length;
      while (messages.length === count) await new Promise((resolve) => setTimeout(resolve, 5));
      return messages[count];
    };
    const say = async (event: string) => {
      await opened;
      const reply = next();
      client.send(JSON.stringify({ event, data: {} }));
      return reply;
    };
    return { client, closed, say };
  };

  it('no token: closed with 4401 token_missing; a valid token: each message sees the principal; a missing role is refused', async () => {
    expect(await open().closed).toEqual({ code: 4401, reason: 'token_missing' });
    const token = (await fixture.app.get(TokenService).issue('kim', { roles: ['user'] })).token;
    const socket = open(token);
    expect(await socket.say('whoami')).toEqual({ sub: 'kim', roles: ['user'] });
    expect(await socket.say('admin')).toMatchObject({ event: 'exception', data: { code: 'insufficient_scope' } });
  });

  it('a revoked token: the socket is closed with 4401 token_revoked within the re-check period', async () => {
    const token = (await fixture.app.get(TokenService).issue('lee', { roles: ['user'] })).token;
    const socket = open(token);
    expect(await socket.say('whoami')).toMatchObject({ sub: 'lee' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await fixture.app.get(RevocationService).revokeAllForUser('lee', 'stolen');
    expect(await socket.closed).toEqual({ code: 4401, reason: 'token_revoked' });
  });
});

describe('transports set to deny or allow', () => {
  it('deny refuses even a valid token; allow lets an internal message through untouched', async () => {
    const denied = await startTransportsApp('express', { transports: { graphql: 'deny', rpc: 'allow' } }, { tcpPort: await freePort() });
    const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: denied.tcpPort! } });
    try {
      const token = (await denied.app.get(TokenService).issue('alice')).token;
      const res = await request(denied.app.getHttpServer()).post('/graphql').set('Authorization', `Bearer ${token}`).send({ query: '{ me { sub } }' });
      expect(errorCode(res)).toBe('forbidden');
      // Operations that reach no resolver of ours too.
      for (const query of ['{ __typename }', '{ __schema { queryType { name } } }']) {
        const untouched = await request(denied.app.getHttpServer()).post('/graphql').set('Authorization', `Bearer ${token}`).send({ query });
        expect(untouched.status).toBe(403);
        expect(errorCode(untouched)).toBe('forbidden');
        expect(untouched.body.data).toBeUndefined();
      }
      // rpc: allow: the guard lets it through without any principal (the handler sees none).
      await expect(firstValueFrom(client.send('admin', {}))).resolves.toEqual({ admin: true });
    } finally {
      client.close();
      await denied.app.close();
    }
  }, 30_000);
});

// Every long-lived connection (a watched gateway socket, a socket of a gateway that never calls `connect()`, a
// GraphQL subscription over Apollo's graphql-ws and over Mercurius) is closed after each kind of revocation and after
// its token expires, by the re-check (`transports.wsRecheckSec`: 1 here), without sending anything.
describe.each(['memory', 'redis'] as const)('long-lived connections after a revocation or an expiry (%s store)', (storeType) => {
  let redis: RedisServer | undefined;
  let gateways: TransportsApp;
  let apollo: TransportsApp;
  let mercurius: TransportsApp;
  const clients: Array<{ dispose(): unknown }> = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    if (storeType === 'redis') redis = await RedisServer.start();
    const options = (name: string): Partial<JwtDefenseModuleOptions> => ({
      transports: { wsRecheckSec: 1 },
      incident: { keyEncryptionKey: randomBytes(32) },
      ...(redis ? { store: { type: 'redis', connection: redis.url, keyPrefix: `transports-${name}:` } } : {}),
    });
    gateways = await startTransportsApp('express', options('gateways'));
    apollo = await startTransportsApp('express', options('apollo'), { subscriptions: true });
    mercurius = await startTransportsApp('fastify', options('mercurius'), { subscriptions: true });
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const client of clients) await client.dispose();
    for (const fixture of [gateways, apollo, mercurius]) await fixture?.app.close();
    await redis?.destroy();
  });

  const address = (fixture: TransportsApp, scheme: 'http' | 'ws') => `${scheme}://127.0.0.1:${(fixture.app.getHttpServer().address() as AddressInfo).port}`;
  const issue = async (fixture: TransportsApp, sub: string) => (await fixture.app.get(TokenService).issue(sub, { roles: ['user'] })).token;

  /** A socket.io client; resolves once connected, with the promise of how it ends (the last `exception` before the disconnect). */
  const gatewaySocket = async (token: string, namespace = '') => {
    const socket = io(`${address(gateways, 'http')}${namespace}`, { transports: ['websocket'], auth: { token }, reconnection: false });
    sockets.push(socket);
    let last: string | undefined;
    socket.on('exception', (body: { code: string }) => (last = body.code));
    const ended = new Promise<string | undefined>((resolve) => socket.on('disconnect', () => resolve(last)));
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    return { socket, ended };
  };
  /** A `ticks` subscription; resolves after its first event, with the promise of how it ends (close code and reason). */
  const subscription = async (fixture: TransportsApp, token: string) => {
    let closed!: (event: { code: number; reason: string }) => void;
    const ended = new Promise<{ code: number; reason: string }>((resolve) => (closed = resolve));
    const client = createClient({
      url: `${address(fixture, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      on: { closed: (event) => closed({ code: (event as CloseEvent).code, reason: String((event as CloseEvent).reason) }) },
    });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.subscribe({ query: 'subscription { ticks }' }, { next: () => resolve(), error: reject, complete: () => undefined });
    });
    // In an object: an async function returning the promise itself would wait for it.
    return { ended };
  };

  type Kind = 'jti' | 'user' | 'before' | 'kid' | 'lockdown step-up' | 'lockdown deny-non-admin' | 'expiry';
  /** Applies one kind of revocation in an app to the token of `sub`; returns what undoes it for the next cases. */
  const revoke = async (fixture: TransportsApp, kind: Kind, sub: string, token: string): Promise<() => Promise<void>> => {
    const incident = fixture.app.get(IncidentService);
    const revocation = fixture.app.get(RevocationService);
    const actor = { reason: `test ${kind}` };
    const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid as string;
    switch (kind) {
      case 'jti':
        await revocation.revoke(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti, actor);
        break;
      case 'user':
        await revocation.revokeAllForUser(sub, actor.reason);
        break;
      case 'before':
        await incident.revokeBefore(undefined, actor);
        break;
      case 'kid':
        await incident.rotateKey(actor);
        await incident.retireKey(kid, actor);
        break;
      case 'lockdown step-up':
      case 'lockdown deny-non-admin':
        await incident.setLockdown(kind === 'lockdown step-up' ? 'step-up' : 'deny-non-admin', actor);
        return async () => void (await incident.setLockdown('off', actor));
      case 'expiry': {
        // Past the token's lifetime and the clock tolerance, on the injectable clock.
        const clock = fixture.app.get(DefenseClock);
        clock.nowMs = () => Date.now() + 400_000;
        return async () => void delete (clock as Partial<DefenseClock>).nowMs;
      }
    }
    return async () => undefined;
  };

  it.each<[Kind, string]>([
    ['jti', 'token_revoked'],
    ['user', 'token_revoked'],
    ['before', 'token_revoked'],
    ['kid', 'token_revoked'],
    ['lockdown step-up', 'insufficient_user_authentication'],
    ['lockdown deny-non-admin', 'lockdown'],
    ['expiry', 'token_expired'],
  ])('%s: every connection is closed by the re-check with %s', async (kind, code) => {
    const sub = `u-${kind.replace(/\W/g, '-')}`;
    // Tokens issued strictly after the measures of the previous cases.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const [gatewayToken, plainToken, apolloToken, mercuriusToken] = await Promise.all([issue(gateways, sub), issue(gateways, `${sub}-plain`), issue(apollo, sub), issue(mercurius, sub)]);
    const watched = await gatewaySocket(gatewayToken);
    // A gateway that never calls connect(): watched from its first allowed message.
    const plain = await gatewaySocket(plainToken, '/plain');
    expect(await plain.socket.emitWithAck('whoami', {})).toEqual({ sub: `${sub}-plain` });
    const apolloSubscription = await subscription(apollo, apolloToken);
    const mercuriusSubscription = await subscription(mercurius, mercuriusToken);
    await new Promise((resolve) => setTimeout(resolve, 5));

    const undo = await Promise.all([
      revoke(gateways, kind, sub, gatewayToken),
      kind === 'user' ? revoke(gateways, kind, `${sub}-plain`, plainToken) : kind === 'jti' ? revoke(gateways, kind, sub, plainToken) : undefined,
      revoke(apollo, kind, sub, apolloToken),
      revoke(mercurius, kind, sub, mercuriusToken),
    ]);
    try {
      expect(await Promise.all([watched.ended, plain.ended, apolloSubscription.ended, mercuriusSubscription.ended])).toEqual([
        code,
        code,
        { code: 4403, reason: code },
        { code: 4403, reason: code },
      ]);
    } finally {
      for (const step of undo) await step?.();
    }
    // A connection left open fails by this timeout (the re-check runs every second here).
  }, 10_000);
});
