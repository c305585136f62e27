import { IsIn, IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { REQUIRED } from '../common/options.js';

/**
 * What the guard does on a non-HTTP execution context: `defend` (the same pipeline as HTTP), `allow` (let it
 * through untouched: only for trusted internal traffic, e.g. a microservice reachable only from your own network;
 * every policy is skipped there), or `deny` (refuse with 403 `forbidden`). Any other context type is refused.
 */
export type TransportMode = 'defend' | 'allow' | 'deny';
const MODES: readonly TransportMode[] = ['defend', 'allow', 'deny'];

/** Non-HTTP transports: GraphQL over HTTP, WebSocket gateways, microservices. */
export class TransportsOptions {
  declare readonly [REQUIRED]?: {};
  /** GraphQL resolvers (`@nestjs/graphql`, Apollo or Mercurius): the token of the HTTP request behind them. Default `defend`. */
  @IsIn(MODES) graphql: TransportMode = 'defend';
  /**
   * WebSocket gateways (`@nestjs/websockets`, socket.io or ws): the token of the handshake (`Authorization` header,
   * or `auth.token` for socket.io), checked on every message. Default `defend`.
   */
  @IsIn(MODES) ws: TransportMode = 'defend';
  /** Microservice handlers (`@nestjs/microservices`): the token from a field of the message. Default `defend`. */
  @IsIn(MODES) rpc: TransportMode = 'defend';
  /** The message field holding the token (`Bearer <token>` or the bare token); a dot path is allowed. Default `authorization`. */
  @IsString() @Matches(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, { message: 'rpcTokenField must be a field name or a dot path' }) rpcTokenField: string = 'authorization';
  /** How often connected sockets watched with `DefenseWsConnections` are re-checked (revocation, expiry), in seconds. Default 10; 1 to 3600. */
  @IsInt() @Min(1) @Max(3600) wsRecheckSec: number = 10;
}
