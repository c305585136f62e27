import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { rawRequest } from '../common/http.js';
import { isPromise } from '../common/maybe-promise.js';
import { JwtDefenseException, TransportNotConfiguredException } from '../errors/defense.exceptions.js';
import { DefenseResponseHeaders } from '../headers/response-headers.js';
import { JWT_DEFENSE_EXTRAS } from '../jwt-defense.tokens.js';
import type { JwtDefenseModuleExtras } from '../jwt-defense.module-definition.js';
import { setPrincipal } from '../policy/current-principal.decorator.js';
import { PolicyResolver, type RoutePolicy } from '../policy/policy.resolver.js';
import { DEFENSE_GUARD_METADATA } from '../policy/route-guards.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { closeSocket, graphqlRequest, messageRequest, socketRequest, type TransportRequest } from '../transports/transport-context.js';
import { TransportErrors } from '../transports/transport-errors.js';
import { TransportsOptions } from '../transports/transports.options.js';
import { DefenseWsConnections } from '../transports/ws-connections.service.js';
import { pipelineContextOf } from './pipeline-context.js';
import { authorizeByPolicy, RequestPipeline } from './request-pipeline.js';

/**
 * The one guard of jwt-defense (global by default): every HTTP request that reaches a route goes through the
 * `RequestPipeline` (rate limits, token, revocation, risk, anomaly, authorization), `@Public()` routes through
 * their rate limits only. GraphQL resolvers, WebSocket gateway messages and microservice handlers go through the same
 * pipeline (`transports` options); any other execution context is refused, never waved through.
 *
 * Extension points: subclass it (with `globalGuard: false`, then register yours) and override `getPolicy` or
 * `authorize`.
 * @hideconstructor
 */
@Injectable()
@SetMetadata(DEFENSE_GUARD_METADATA, true)
export class JwtDefenseGuard implements CanActivate {
  private readonly writesErrorHeaders: boolean;
  private readonly authorizer = (principal: AccessTokenPrincipal, route: RoutePolicy) => this.authorize(principal, route);
  private readonly errors = new TransportErrors();
  /** Watches the long-lived connections whose contexts pass (a property: subclasses keep their constructor). */
  @Inject(DefenseWsConnections) private readonly connections!: DefenseWsConnections;

  constructor(
    protected readonly pipeline: RequestPipeline,
    protected readonly policies: PolicyResolver,
    protected readonly headers: DefenseResponseHeaders,
    @Inject(JWT_DEFENSE_EXTRAS) extras: Required<JwtDefenseModuleExtras>,
    private readonly transports: TransportsOptions,
  ) {
    // Without our exception filter, the guard writes its own rejections' headers (challenge, Retry-After).
    this.writesErrorHeaders = !extras.exceptionFilter;
  }

  /** `true` at once when nothing has to wait (an HTTP request with a cached token on the memory store), else a promise. */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const type = context.getType<string>();
    if (type === 'http') return this.activateHttp(context);
    return this.activateTransport(type, context);
  }

  private async activateTransport(type: string, context: ExecutionContext): Promise<boolean> {
    const mode = type === 'graphql' ? this.transports.graphql.mode : type === 'ws' || type === 'rpc' ? this.transports[type] : 'deny';
    if (mode === 'allow') return true;
    if (mode === 'deny') return this.refuse(type, new TransportNotConfiguredException(type), context);
    const transport = type === 'graphql' ? graphqlRequest(context) : type === 'ws' ? socketRequest(context.switchToWs().getClient()) : messageRequest(context, this.transports.rpcTokenField);
    if (!transport) return this.refuse(type, new TransportNotConfiguredException(type), context);
    try {
      await this.run(context, transport);
    } catch (error) {
      // GraphQL over HTTP: the HTTP answer still gets the security headers, challenge and Retry-After.
      if (transport.httpResponse) this.writeErrorHeaders(transport, error);
      return this.refuse(type, error, context);
    }
    return true;
  }

  /** The route's policy (resolved once per handler). */
  protected getPolicy(context: ExecutionContext): RoutePolicy {
    return this.policies.forContext(context);
  }

  /** Throws `InsufficientScopeException` when the principal lacks a required role or scope. */
  protected authorize(principal: AccessTokenPrincipal, route: RoutePolicy): void {
    authorizeByPolicy(principal, route);
  }

  private activateHttp(context: ExecutionContext): boolean | Promise<boolean> {
    const http = context.switchToHttp();
    const transport = { httpRequest: http.getRequest<unknown>(), httpResponse: http.getResponse<unknown>(), principalHolder: http.getRequest<object>() };
    let ran: void | Promise<void>;
    try {
      ran = this.runNow(context, transport);
    } catch (error) {
      return this.refuseHttp(transport, error);
    }
    if (!ran) return true;
    return ran.then(
      () => true,
      (error: unknown) => this.refuseHttp(transport, error),
    );
  }

  private refuseHttp(transport: TransportRequest, error: unknown): never {
    if (this.writesErrorHeaders) this.writeErrorHeaders(transport, error);
    throw error;
  }

  private writeErrorHeaders(transport: TransportRequest, error: unknown): void {
    const pipelineContext = pipelineContextOf(rawRequest(transport.httpRequest));
    this.headers.error(transport.httpResponse, error, pipelineContext?.route, pipelineContext?.limits, pipelineContext);
  }

  private async run(context: ExecutionContext, transport: TransportRequest): Promise<void> {
    return this.runNow(context, transport);
  }

  /** The pipeline for one context: at once when it answers at once. */
  private runNow(context: ExecutionContext, transport: TransportRequest): void | Promise<void> {
    const route = this.getPolicy(context);
    const principal = this.pipeline.runNow(route, transport.httpRequest, transport.httpResponse, this.authorizer);
    if (isPromise(principal)) return principal.then((value) => this.ran(route, transport, value));
    this.ran(route, transport, principal);
  }

  private ran(route: RoutePolicy, transport: TransportRequest, principal: AccessTokenPrincipal | undefined): void {
    if (principal && transport.principalHolder !== transport.httpRequest) setPrincipal(transport.principalHolder, principal);
    // A gateway's socket, a subscription's WebSocket: watched from now on, closed once its token stops passing.
    if (principal && transport.watch) this.connections.watch(transport.watch, route);
  }

  /** Each transport's own error, with our code; a WebSocket whose token is revoked or expired is closed too. */
  private async refuse(type: string, error: unknown, context: ExecutionContext): Promise<never> {
    if (!(error instanceof JwtDefenseException)) throw error;
    if (type === 'graphql') throw await this.errors.graphql(error);
    if (type === 'rpc') throw await this.errors.rpc(error);
    if (type === 'ws') {
      const wsError = await this.errors.ws(error);
      if (['token_revoked', 'token_expired'].includes(error.code)) closeSocket(context.switchToWs().getClient(), error, (wsError as unknown as { getError(): unknown }).getError());
      throw wsError;
    }
    throw error;
  }
}
