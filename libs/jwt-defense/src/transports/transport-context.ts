import type { IncomingMessage } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import { rawRequest } from '../common/http.js';
import { claimAt } from '../token/access-token-claims.js';

/**
 * A long-lived connection behind a context (a gateway's socket, a GraphQL subscription's WebSocket), to watch once
 * its token passed: `gateway` sockets close like refused gateway messages, `graphql-ws` sockets with 4403.
 */
export interface WatchableConnection {
  readonly kind: 'gateway' | 'graphql-ws';
  readonly connection: object;
  /** A new stand-in request for each re-check (the pipeline keeps its answer on the request object it was given). */
  request(): unknown;
}

/** What the pipeline needs from any transport: a request (real, or one built from a handshake or a message) and where the answer goes. */
export interface TransportRequest {
  /** The framework's request, or a stand-in with `headers`, `rawHeaders`, `url`, `method` and `socket.remoteAddress`. */
  readonly httpRequest: unknown;
  /** The HTTP response (for headers), absent for WebSocket and microservice messages. */
  readonly httpResponse?: unknown;
  /** Where `@CurrentPrincipal()` finds the principal for this context. */
  readonly principalHolder: object;
  /** The connection to watch after this context passed, when it is long-lived. */
  readonly watch?: WatchableConnection;
}

/** A token given outside a header (an auth payload, a message field): `Bearer <token>`, `DPoP <token>` or the bare token. */
function asAuthorization(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return /^(bearer|dpop) /i.test(value) ? value : `Bearer ${value}`;
}

/** A request-like stand-in for transports without an HTTP request of their own (microservice messages). */
export function standInRequest(authorization: string | undefined, remoteAddress: string | undefined, headers: Record<string, string> = {}): IncomingMessage {
  const all: Record<string, string> = { ...headers };
  if (authorization !== undefined) all.authorization = authorization;
  return {
    headers: all,
    rawHeaders: Object.entries(all).flat(),
    url: '/',
    method: 'MESSAGE',
    socket: { remoteAddress },
  } as unknown as IncomingMessage;
}

type GraphqlContext = { req?: unknown; res?: unknown; request?: unknown; reply?: { request?: unknown } };
/** The context graphql-ws gives a subscription (Apollo puts it under `req`). */
type SubscriptionContext = { connectionParams?: Record<string, unknown>; extra?: { request?: IncomingMessage; socket?: object } };
/** The context of an operation over Mercurius's WebSocket: the `connection_init` payload and the upgrade request. */
type MercuriusSocketContext = { _connectionInit?: Record<string, unknown> & { headers?: Record<string, unknown> }; request?: unknown };

const isSubscription = (value: unknown): value is SubscriptionContext =>
  typeof value === 'object' && value !== null && ('connectionParams' in value || ('extra' in value && !('headers' in value)));
const isMercuriusSocket = (value: object): boolean => '_connectionInit' in value;

/** The WebSockets of Mercurius's subscriptions, by their upgrade request (kept by `GraphqlEndpoint` as Fastify upgrades them). */
const upgradeSockets = new WeakMap<IncomingMessage, object>();

/** Remembers the WebSocket an upgrade request became, so the subscriptions it carries can be watched and closed. */
export function rememberUpgradeSocket(request: IncomingMessage, socket: object): void {
  upgradeSockets.set(request, socket);
}

/**
 * A GraphQL-over-WebSocket operation: the token from the connection parameters (`authorization`, or `token`), else the
 * upgrade request's `Authorization` header; a stand-in request, new for each run, and the socket to watch.
 */
function socketOperation(params: Record<string, unknown>, upgrade: IncomingMessage | undefined, socket: object | undefined, holder: object): TransportRequest {
  const standIn = () => {
    const { authorization: header, ...headers } = headerStrings(upgrade);
    const authorization = asAuthorization(params.authorization ?? params.Authorization ?? params.token) ?? header;
    return standInRequest(authorization, upgrade?.socket?.remoteAddress, headers);
  };
  return { httpRequest: standIn(), principalHolder: holder, ...(socket ? { watch: { kind: 'graphql-ws', connection: socket, request: standIn } } : {}) };
}

/**
 * The GraphQL context's HTTP request and response (Apollo on Express: `req`/`res`; Mercurius or Apollo on Fastify:
 * `reply`), or, for an operation over a WebSocket (graphql-ws, Mercurius subscriptions), a stand-in built from its
 * connection parameters (`authorization`, or `token`) and its upgrade request.
 */
export function graphqlRequest(context: ExecutionContext): TransportRequest | undefined {
  const gql = context.getArgs()[2] as GraphqlContext | undefined;
  if (!gql) return undefined;
  const subscription = isSubscription(gql) ? gql : isSubscription(gql.req) ? gql.req : undefined;
  if (subscription) return socketOperation(subscription.connectionParams ?? {}, subscription.extra?.request, subscription.extra?.socket, gql);
  if (isMercuriusSocket(gql)) {
    // Mercurius reads a payload's `headers` member as the headers when there is one, else the payload itself.
    const { _connectionInit: payload, request } = gql as MercuriusSocketContext;
    const upgrade = request ? rawRequest(request) : undefined;
    return socketOperation(payload?.headers ?? payload ?? {}, upgrade, upgrade && upgradeSockets.get(upgrade), gql);
  }
  const httpRequest = gql.req ?? gql.request ?? gql.reply?.request;
  // Apollo's default context on Express has no `res`; Express links it from the request.
  if (httpRequest) return { httpRequest, httpResponse: gql.res ?? gql.reply ?? (httpRequest as { res?: unknown }).res, principalHolder: httpRequest as object };
  return undefined;
}

type Socket = {
  handshake?: { headers?: Record<string, unknown>; auth?: Record<string, unknown>; address?: string };
  request?: IncomingMessage;
  _socket?: { remoteAddress?: string };
};

function headerStrings(request: { headers?: Record<string, unknown> } | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request?.headers ?? {})) if (typeof value === 'string') out[name] = value;
  return out;
}

/** Upgrade requests of native `ws` clients (which do not keep theirs), remembered by `DefenseWsConnections.connect`. */
const upgradeRequests = new WeakMap<object, IncomingMessage>();

/** Remembers the upgrade request of a native `ws` client, so each of its messages is checked with the handshake's token. */
export function rememberUpgradeRequest(client: object, request: IncomingMessage | undefined): void {
  if (request && typeof request === 'object' && request.headers) upgradeRequests.set(client, request);
}

/**
 * A WebSocket client's request: its handshake (socket.io: `handshake.headers`, and `handshake.auth.token` when the
 * client sends its token there; ws: the upgrade request, kept by `DefenseWsConnections`).
 */
export function socketRequest(client: unknown): TransportRequest {
  const socket = client as Socket;
  const upgrade = upgradeRequests.get(client as object);
  const headers = headerStrings(socket.handshake ?? socket.request ?? upgrade);
  const remote = socket.request?.socket?.remoteAddress ?? upgrade?.socket?.remoteAddress ?? socket.handshake?.address ?? socket._socket?.remoteAddress;
  const { authorization, ...rest } = headers;
  return {
    httpRequest: standInRequest(authorization ?? asAuthorization(socket.handshake?.auth?.token), remote, rest),
    principalHolder: client as object,
    watch: { kind: 'gateway', connection: client as object, request: () => socketRequest(client).httpRequest },
  };
}

/** A microservice message's request: the token from `field` of the message (a dot path), the peer address when the transport has one. */
export function messageRequest(context: ExecutionContext, field: string): TransportRequest {
  const rpc = context.switchToRpc();
  const data = rpc.getData<unknown>();
  const transportContext = rpc.getContext<{ getSocket?: () => { remoteAddress?: string; socket?: { remoteAddress?: string } } } | undefined>();
  const value = data !== null && typeof data === 'object' ? claimAt(data as Record<string, unknown>, field) : undefined;
  const authorization = asAuthorization(value);
  const socket = transportContext?.getSocket?.();
  const remote = socket?.remoteAddress ?? socket?.socket?.remoteAddress;
  return { httpRequest: standInRequest(authorization, remote), principalHolder: (transportContext ?? data ?? {}) as object };
}

type ClosableSocket = {
  emit?: (event: string, body: unknown) => unknown;
  disconnect?: (close?: boolean) => unknown;
  close?: (code?: number, reason?: string) => unknown;
  once?: (event: string, listener: () => void) => unknown;
  disconnected?: boolean;
  readyState?: number;
};

/** graphql-ws's close code for a connection that may not go on (`Forbidden`): its client does not reconnect after it. */
export const GRAPHQL_WS_FORBIDDEN = 4403;

/**
 * Closes a socket whose token cannot be used (any more), telling the client why: socket.io gets an `exception` event
 * with the error body, then a disconnect; a native `ws` client gets close code 4000 + the HTTP status (4401, 4403,
 * 4429, 4503) with our code as the reason; a GraphQL subscription's WebSocket gets graphql-ws's 4403 with our code.
 */
export function closeSocket(client: unknown, error: { code: string; getStatus(): number }, body: unknown, kind: WatchableConnection['kind'] = 'gateway'): void {
  const socket = client as ClosableSocket;
  // Let the refusal of the current message go out first, then close.
  setImmediate(() => {
    if (kind === 'graphql-ws') {
      socket.close?.(GRAPHQL_WS_FORBIDDEN, error.code);
    } else if (typeof socket.disconnect === 'function') {
      socket.emit?.('exception', body);
      // This namespace's socket only: other namespaces multiplexed on the same connection have handshakes of their own.
      socket.disconnect();
    } else {
      socket.close?.(4000 + error.getStatus(), error.code);
    }
  });
}

/** True when a socket (socket.io or ws) is already closed or closing. */
export function isSocketClosed(client: unknown): boolean {
  const socket = client as ClosableSocket;
  return typeof socket.disconnect === 'function' ? socket.disconnected === true : typeof socket.readyState === 'number' && socket.readyState >= 2;
}

/** Calls `listener` once when a socket closes (socket.io: `disconnect`; ws: `close`). */
export function onSocketClosed(client: unknown, listener: () => void): void {
  const socket = client as ClosableSocket;
  socket.once?.(typeof socket.disconnect === 'function' ? 'disconnect' : 'close', listener);
}
