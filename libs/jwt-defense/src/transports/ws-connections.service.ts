import type { IncomingMessage } from 'node:http';
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import { JwtDefenseException } from '../errors/defense.exceptions.js';
import { RequestPipeline } from '../pipeline/request-pipeline.js';
import { setPrincipal } from '../policy/current-principal.decorator.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import { PolicyResolver } from '../policy/policy.resolver.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { closeSocket, isSocketClosed, onSocketClosed, rememberUpgradeRequest, socketRequest, type WatchableConnection } from './transport-context.js';
import { TransportErrors } from './transport-errors.js';
import { TransportsOptions } from './transports.options.js';

type Connection = object;

interface Watched {
  readonly kind: WatchableConnection['kind'];
  readonly route: RoutePolicy;
  readonly request: () => unknown;
}

const JOB = 'jwt-defense:ws-connections';

/**
 * Every long-lived connection under the defence: WebSocket gateway sockets and the WebSockets of GraphQL
 * subscriptions. Each is watched from the first time its token passes (the guard watches a gateway's socket at its
 * first allowed message, and a subscription's socket when the subscription starts), and re-checked every
 * `transports.wsRecheckSec` (revocation in the one store call: jti, user, before-T, kid; lockdown; expiry): a socket
 * whose token no longer passes is closed with a reason the client can read (socket.io: an `exception` event
 * `{ code }`, then disconnect; ws: close code 4000 + status, 4401 for a revoked or expired token; a GraphQL
 * subscription's WebSocket: 4403, graphql-ws's `Forbidden`, with the code as reason). A closed socket leaves the watch.
 *
 * To check the token at connection already (and close a socket that has none), call `connect(client, this)` from
 * your gateway's `handleConnection` (and, optionally, `disconnect(client)` from `handleDisconnect`).
 * @hideconstructor
 */
@Injectable()
export class DefenseWsConnections implements OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private readonly sockets = new Map<Connection, Watched>();
  private readonly errors = new TransportErrors();

  constructor(
    private readonly pipeline: RequestPipeline,
    private readonly policies: PolicyResolver,
    private readonly scheduler: DefenseScheduler,
    private readonly options: TransportsOptions,
  ) {}

  /**
   * Verifies a new connection's handshake token (with the gateway's policy) and watches the socket; closes it and
   * resolves `undefined` when refused. With the native `ws` adapter pass `handleConnection`'s second argument, the
   * upgrade request (a `ws` client does not keep it, and every message is checked with its token).
   */
  async connect(client: unknown, gateway: object, upgradeRequest?: IncomingMessage): Promise<AccessTokenPrincipal | undefined> {
    rememberUpgradeRequest(client as object, upgradeRequest);
    const route = this.policies.forHandler(gateway.constructor as never, gateway.constructor as never);
    const watched: Watched = { kind: 'gateway', route, request: () => socketRequest(client).httpRequest };
    const principal = await this.check(client as Connection, watched, true);
    if (principal) this.watch({ kind: 'gateway', connection: client as Connection, request: watched.request }, route);
    return principal;
  }

  disconnect(client: unknown): void {
    this.sockets.delete(client as Connection);
    if (this.sockets.size === 0) this.scheduler.remove(JOB);
  }

  /**
   * Watches a connection whose token just passed on `route` (the guard calls this); nothing when it is watched
   * already or closed. @internal
   */
  watch(watchable: WatchableConnection, route: RoutePolicy): void {
    const { connection, kind, request } = watchable;
    if (this.sockets.has(connection) || isSocketClosed(connection)) return;
    this.sockets.set(connection, { kind, route, request });
    onSocketClosed(connection, () => this.disconnect(connection));
    if (this.sockets.size === 1) this.scheduler.interval(JOB, this.options.wsRecheckSec * 1000, () => this.recheck());
  }

  /** Connections watched now (for tests and metrics). */
  get size(): number {
    return this.sockets.size;
  }

  onModuleDestroy(): void {
    this.scheduler.remove(JOB);
  }

  /**
   * Re-checks every watched connection; closes those whose token was revoked or has expired. A re-check is not a
   * request: no rate limit, anomaly count, risk scoring or context learning; a store outage keeps the socket open.
   */
  async recheck(): Promise<void> {
    for (const [connection, watched] of [...this.sockets]) {
      const { route } = watched;
      const quiet: RoutePolicy = { ...route, ip: false, user: false, userBy: undefined, body: undefined, risk: { ...route.risk, mode: 'off' }, anomaly: { ...route.anomaly, mode: 'off' } };
      await this.check(connection, { ...watched, route: quiet }, false);
    }
  }

  private async check(connection: Connection, { kind, route, request }: Watched, connecting: boolean): Promise<AccessTokenPrincipal | undefined> {
    try {
      const principal = await this.pipeline.run(route, request(), undefined);
      if (principal && kind === 'gateway') setPrincipal(connection, principal);
      return principal;
    } catch (error) {
      if (!(error instanceof JwtDefenseException) || (!connecting && error.getStatus() >= 429)) {
        this.logger.warn(`a socket could not be checked: ${(error as Error)?.message}`);
        return undefined;
      }
      this.disconnect(connection);
      // A subscription's socket closes with a code only (and its app may not have @nestjs/websockets).
      const body = kind === 'gateway' ? ((await this.errors.ws(error)) as unknown as { getError(): unknown }).getError() : undefined;
      closeSocket(connection, error, body, kind);
      return undefined;
    }
  }
}
