import request from 'supertest';
import { io, type Socket } from 'socket.io-client';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { AddressInfo } from 'node:net';
import { RevocationService, TokenService } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { createClient } from 'graphql-ws';
import { WebSocket } from 'ws';
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

describe('GraphQL subscriptions over graphql-ws (Apollo)', () => {
  let fixture: TransportsApp;
  let url: string;
  beforeAll(async () => {
    fixture = await startTransportsApp('express', {}, { subscriptions: true });
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
            error: (error) => resolve({ code: (error as { message?: string })?.message ?? 'error' }),
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
      // rpc: allow: the guard lets it through without any principal (the handler sees none).
      await expect(firstValueFrom(client.send('admin', {}))).resolves.toEqual({ admin: true });
    } finally {
      client.close();
      await denied.app.close();
    }
  }, 30_000);
});
