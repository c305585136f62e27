import type { IncomingMessage } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import { claimAt } from '../token/access-token-claims.js';

/** What the pipeline needs from any transport: a request (real, or one built from a handshake or a message) and where the answer goes. */
export interface TransportRequest {
  /** The framework's request, or a stand-in with `headers`, `rawHeaders`, `url`, `method` and `socket.remoteAddress`. */
  readonly httpRequest: unknown;
  /** The HTTP response (for headers), absent for WebSocket and microservice messages. */
  readonly httpResponse?: unknown;
  /** Where `@CurrentPrincipal()` finds the principal for this context. */
  readonly principalHolder: object;
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
type SubscriptionContext = { connectionParams?: Record<string, unknown>; extra?: { request?: IncomingMessage } };

const isSubscription = (value: unknown): value is SubscriptionContext =>
  typeof value === 'object' && value !== null && ('connectionParams' in value || ('extra' in value && !('headers' in value)));

/**
 * The GraphQL context's HTTP request and response (Apollo on Express: `req`/`res`; Mercurius or Apollo on Fastify:
 * `reply`), or, for a subscription over graphql-ws, a stand-in built from its connection parameters
 * (`authorization`, or `token`) and its upgrade request.
 */
export function graphqlRequest(context: ExecutionContext): TransportRequest | undefined {
  const gql = context.getArgs()[2] as GraphqlContext | undefined;
  if (!gql) return undefined;
  const subscription = isSubscription(gql) ? gql : isSubscription(gql.req) ? gql.req : undefined;
  if (subscription) {
    const params = subscription.connectionParams ?? {};
    const upgrade = subscription.extra?.request;
    const { authorization: header, ...headers } = headerStrings(upgrade);
    const authorization = asAuthorization(params.authorization ?? params.Authorization ?? params.token) ?? header;
    return { httpRequest: standInRequest(authorization, upgrade?.socket?.remoteAddress, headers), principalHolder: gql };
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
  return { httpRequest: standInRequest(authorization ?? asAuthorization(socket.handshake?.auth?.token), remote, rest), principalHolder: client as object };
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

type ClosableSocket = { emit?: (event: string, body: unknown) => unknown; disconnect?: (close?: boolean) => unknown; close?: (code?: number, reason?: string) => unknown };

/**
 * Closes a socket whose token cannot be used (any more), telling the client why: socket.io gets an `exception` event
 * with the error body, then a disconnect; a native `ws` client gets close code 4000 + the HTTP status (4401, 4403,
 * 4429, 4503) with our code as the reason.
 */
export function closeSocket(client: unknown, error: { code: string; getStatus(): number }, body: unknown): void {
  const socket = client as ClosableSocket;
  // Let the refusal of the current message go out first, then close.
  setImmediate(() => {
    if (typeof socket.disconnect === 'function') {
      socket.emit?.('exception', body);
      socket.disconnect(true);
    } else {
      socket.close?.(4000 + error.getStatus(), error.code);
    }
  });
}
