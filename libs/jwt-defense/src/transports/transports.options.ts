import { IsBoolean, IsIn, IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { Nested, REQUIRED, SHORTHAND } from '../common/options.js';

/**
 * What the guard does on a non-HTTP execution context: `defend` (the same pipeline as HTTP), `allow` (let it
 * through untouched: only for trusted internal traffic, e.g. a microservice reachable only from your own network;
 * every policy is skipped there), or `deny` (refuse with 403 `forbidden`). Any other context type is refused.
 */
export type TransportMode = 'defend' | 'allow' | 'deny';
const MODES: readonly TransportMode[] = ['defend', 'allow', 'deny'];

/** GraphQL over HTTP (`@nestjs/graphql`, Apollo or Mercurius) and its subscriptions. A mode string alone stands for `{ mode }`. */
export class GraphqlTransportOptions {
  declare readonly [REQUIRED]?: {};
  declare readonly [SHORTHAND]?: 'mode';
  /**
   * `defend`: every HTTP request to the GraphQL endpoint gets the per-IP limit and the security headers, whatever
   * resolvers it runs, and each resolver the token of the HTTP request behind it; `deny`: every request to the
   * endpoint is refused with 403 `forbidden`; `allow`: nothing is checked. Default `defend`.
   */
  @IsIn(MODES) mode: TransportMode = 'defend';
  /**
   * Schema introspection (`__schema`, `__type`) without a token. `false`: an operation that introspects needs a
   * token that passes the pipeline, or the request is refused with `extensions.code` `token_missing` (or the
   * token's code). `__typename` is not introspection. Default `false`.
   */
  @IsBoolean() publicIntrospection: boolean = false;
}

/** Non-HTTP transports: GraphQL over HTTP, WebSocket gateways, microservices. */
export class TransportsOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * GraphQL (`@nestjs/graphql`, Apollo or Mercurius): `{ mode, publicIntrospection }`, or a mode string alone
   * (`'deny'` is `{ mode: 'deny' }`). Default `{ mode: 'defend', publicIntrospection: false }`.
   */
  @Nested(() => GraphqlTransportOptions, { shorthand: 'mode' }) graphql: GraphqlTransportOptions = new GraphqlTransportOptions();
  /**
   * WebSocket gateways (`@nestjs/websockets`, socket.io or ws): the token of the handshake (`Authorization` header,
   * or `auth.token` for socket.io), checked on every message. Default `defend`.
   */
  @IsIn(MODES) ws: TransportMode = 'defend';
  /** Microservice handlers (`@nestjs/microservices`): the token from a field of the message. Default `defend`. */
  @IsIn(MODES) rpc: TransportMode = 'defend';
  /** The message field holding the token (`Bearer <token>` or the bare token); a dot path is allowed. Default `authorization`. */
  @IsString() @Matches(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, { message: 'rpcTokenField must be a field name or a dot path' }) rpcTokenField: string = 'authorization';
  /**
   * The bound on every long-lived connection, in seconds: a gateway socket (watched by `DefenseWsConnections.connect`,
   * or by the guard from its first message) or a GraphQL subscription's WebSocket is re-checked this often and
   * closed once its token is revoked (jti, user, before-T, kid, lockdown) or has expired. Default 10; 1 to 3600.
   */
  @IsInt() @Min(1) @Max(3600) wsRecheckSec: number = 10;
}
