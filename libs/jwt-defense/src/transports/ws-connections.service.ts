import type { IncomingMessage } from 'node:http';
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import { JwtDefenseException } from '../errors/defense.exceptions.js';
import { RequestPipeline } from '../pipeline/request-pipeline.js';
import { setPrincipal } from '../policy/current-principal.decorator.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import { PolicyResolver } from '../policy/policy.resolver.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { closeSocket, rememberUpgradeRequest, socketRequest } from './transport-context.js';
import { TransportErrors } from './transport-errors.js';
import { TransportsOptions } from './transports.options.js';

type Client = object;

const JOB = 'jwt-defense:ws-connections';

/**
 * WebSocket connections under the defence: call `connect(client, this)` from your gateway's `handleConnection` and
 * `disconnect(client)` from `handleDisconnect`. The handshake's token goes through the whole pipeline at connection
 * (a refused one closes the socket with its code); afterwards every connected socket is re-checked every
 * `transports.wsRecheckSec` (revocation in the one store call, expiry), and a socket whose token was revoked or
 * expired is closed with a reason the client can read (socket.io: an `exception` event `{ code }`, then
 * disconnect; ws: close code 4401 with the code as reason). Every message is checked by the guard as well.
 */
@Injectable()
export class DefenseWsConnections implements OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private readonly sockets = new Map<Client, { route: RoutePolicy; principal: AccessTokenPrincipal }>();
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
    const principal = await this.check(client as Client, route, true);
    if (!principal) return undefined;
    this.sockets.set(client as Client, { route, principal });
    if (this.sockets.size === 1) this.scheduler.interval(JOB, this.options.wsRecheckSec * 1000, () => this.recheck());
    return principal;
  }

  disconnect(client: unknown): void {
    this.sockets.delete(client as Client);
    if (this.sockets.size === 0) this.scheduler.remove(JOB);
  }

  /** Sockets watched now (for tests and metrics). */
  get size(): number {
    return this.sockets.size;
  }

  onModuleDestroy(): void {
    this.scheduler.remove(JOB);
  }

  /**
   * Re-checks every watched socket; closes those whose token was revoked or has expired. A re-check is not a
   * request: no rate limit, anomaly count or context learning; a store outage keeps the socket open.
   */
  async recheck(): Promise<void> {
    for (const [client, { route }] of [...this.sockets]) {
      const quiet: RoutePolicy = { ...route, ip: false, user: false, body: undefined, risk: { ...route.risk, mode: 'off' }, anomaly: { ...route.anomaly, mode: 'off' } };
      await this.check(client, quiet, false);
    }
  }

  private async check(client: Client, route: RoutePolicy, connecting: boolean): Promise<AccessTokenPrincipal | undefined> {
    try {
      const principal = await this.pipeline.run(route, socketRequest(client).httpRequest, undefined);
      if (principal) setPrincipal(client, principal);
      return principal;
    } catch (error) {
      if (!(error instanceof JwtDefenseException) || (!connecting && error.getStatus() >= 429)) {
        this.logger.warn(`a socket could not be checked: ${(error as Error)?.message}`);
        return undefined;
      }
      this.sockets.delete(client);
      closeSocket(client, error, ((await this.errors.ws(error)) as unknown as { getError(): unknown }).getError());
      return undefined;
    }
  }
}
