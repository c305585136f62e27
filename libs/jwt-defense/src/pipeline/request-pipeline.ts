import { Inject, Injectable, Optional } from '@nestjs/common';
import { rawRequest } from '../common/http.js';
import { isPromise, type MaybePromise } from '../common/maybe-promise.js';
import { ClientIpResolver } from '../edge/client-ip.js';
import { extractAccessToken, type PresentedToken } from '../edge/access-token.extractor.js';
import { DpopStage } from '../dpop/dpop.stage.js';
import {
  asInvalidToken,
  DpopProofException,
  InsufficientScopeException,
  JwtDefenseException,
  MissingTokenException,
  TokenVerificationError,
} from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { DefenseResponseHeaders } from '../headers/response-headers.js';
import { DEFENSE_METRICS, PRINCIPAL_PROPERTY } from '../jwt-defense.tokens.js';
import { setPrincipal } from '../policy/current-principal.decorator.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import type { DefenseCheckRequest, DefenseCheckResult } from '../store/check-part.js';
import { RequestCheckStore } from '../store/defense-store.ports.js';
import { ThrottleStage } from '../throttling/throttle.stage.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { identityOf } from '../token/token-ids.js';
import { TokenService } from '../token/token.service.js';
import { AccessTokenVerifier } from '../issuers/access-token.verifier.js';
import { CHECK_STAGES } from './check-stages.js';
import type { CheckStage } from './check-stage.js';
import { NOOP_METRICS_SINK, type DefenseDecision, type DefenseLayer, type DefenseMetricsSink } from './metrics-sink.js';
import { attachContext, pipelineContextOf, type PipelineContext, type PrincipalIdentity } from './pipeline-context.js';
import { StoreFailures } from './store-failure.js';

/** A rejected promise for the request's later runs to meet (handled here: the first run throws the error itself). */
function refusal(error: unknown): Promise<never> {
  const rejected = Promise.reject(error);
  rejected.catch(() => undefined);
  return rejected;
}

/** Decides whether a verified principal may use a route (roles and scopes by default). */
export type Authorizer = (principal: AccessTokenPrincipal, route: RoutePolicy) => void;

/** The default authorization: one of the route's roles, and every one of its scopes. */
export const authorizeByPolicy: Authorizer = (principal, route) => {
  if (route.roles?.length && !route.roles.some((role) => principal.roles.includes(role))) throw new InsufficientScopeException();
  if (route.scopes?.length && !route.scopes.every((scope) => principal.scopes.includes(scope))) throw new InsufficientScopeException();
};

/**
 * THE REQUEST PIPELINE: read this file to follow a request through jwt-defense. Every layer is a stage in its
 * own folder; this lists them in request order:
 *
 *   1. throttle (pre-auth)  per client IP and per body field (e.g. username), before any token work
 *   2. edge                 token extraction: exactly one `Authorization: Bearer` or `DPoP`, no token in the URL
 *   3. token                pre-filter (no crypto), signature and claims (this module's keys, or an external
 *                           issuer's JWKS); verified-token cache; a DPoP-bound token's proof (RFC 9449)
 *   4. ONE store call       every layer with per-request state adds its part, then decides from the answer, in
 *                           this order: revocation (jti, session, user epoch), incident lockdown (from memory,
 *                           before the call), DPoP proof replay, per-user rate limit, anomaly
 *                           (count, containment), context risk (profile → allow / step-up / deny)
 *   5. authorization        roles and scopes of the route's policy
 *   6. principal            on the request, for `@CurrentPrincipal()` (and `req.user`: `principalProperty`);
 *                           layers learn from the allowed request (in the background: the request does not wait)
 *
 * Stages never write to the response: they throw a `JwtDefenseException`, and `DefenseResponseHeaders` (the
 * one header writer) answers. Store failures go through `StoreFailures` (the one fail-mode branch).
 */
@Injectable()
export class RequestPipeline {
  /** Layers read and counted in the ONE store call of an authenticated request, in decision order. */
  private readonly checkStages: readonly CheckStage[];
  private readonly identities = new WeakMap<AccessTokenPrincipal, PrincipalIdentity>();
  private readonly timed: boolean;
  /** The sink records a span per request (`requestDecided`): the only case the pipeline reads the clock at its start. */
  private readonly traced: boolean;
  /** Passport's convention: the principal also on `req[principalProperty]` (`false`: not). */
  @Optional() @Inject(PRINCIPAL_PROPERTY) private readonly principalProperty: string | false = false;

  constructor(
    private readonly clientIp: ClientIpResolver,
    private readonly throttle: ThrottleStage,
    private readonly tokens: TokenService,
    private readonly verifier: AccessTokenVerifier,
    private readonly dpop: DpopStage,
    @Inject(CHECK_STAGES) checkStages: readonly CheckStage[],
    @Inject(RequestCheckStore) private readonly store: RequestCheckStore,
    private readonly failures: StoreFailures,
    private readonly headers: DefenseResponseHeaders,
    private readonly events: SecurityEventService,
    @Inject(DEFENSE_METRICS) private readonly metrics: DefenseMetricsSink,
  ) {
    this.checkStages = checkStages;
    this.timed = metrics !== NOOP_METRICS_SINK;
    this.traced = typeof metrics.requestDecided === 'function';
  }

  /**
   * Runs one request through every layer. Resolves with the principal (`undefined` on a public route) when the
   * request may reach its handler (the success headers are written when there is an HTTP response); rejects with the
   * exception that answers it otherwise. Later runs for the same HTTP request (the GraphQL endpoint's run, then its
   * resolvers') share the first: the pre-authentication limits are counted once per request, by the first run; the
   * first authenticated run authenticates with its own route's policy (user limit, risk, anomaly, fail mode), once per
   * request; every run is authorized for its own route.
   */
  async run(route: RoutePolicy, httpRequest: unknown, httpResponse: unknown, authorize: Authorizer = authorizeByPolicy): Promise<AccessTokenPrincipal | undefined> {
    return this.runNow(route, httpRequest, httpResponse, authorize);
  }

  /**
   * `run`, answered at once whenever nothing has to wait (a cached token, the memory store): returns the principal or
   * throws the refusal; a promise only when something does (a signature with a remote key, a DPoP proof, the Redis
   * store). Each `await` of a known value costs a request a promise and a microtask: the guard's HTTP path uses this.
   */
  runNow(route: RoutePolicy, httpRequest: unknown, httpResponse: unknown, authorize: Authorizer = authorizeByPolicy): MaybePromise<AccessTokenPrincipal | undefined> {
    const request = rawRequest(httpRequest);
    let context = pipelineContextOf(request);
    if (context && (context.authenticated !== undefined || route.isPublic)) return this.again(context, route, httpRequest, httpResponse, authorize);
    if (context) {
      // Admitted by a public run (the GraphQL endpoint's, a public resolver's): this first authenticated run decides.
      context.route = route;
    } else {
      const clientAddress = this.clientIp.address(request);
      context = {
        route,
        request,
        httpRequest: httpRequest as { body?: unknown },
        clientIp: this.clientIp.group(clientAddress),
        clientAddress,
        allowListed: false,
        startedMs: this.traced ? performance.now() : 0,
        scheme: undefined,
        principal: undefined,
        identity: undefined,
        ipOwed: undefined,
        userLimit: undefined,
        proof: undefined,
        risk: undefined,
        layer: 'throttle',
        limits: undefined,
        admitted: undefined,
        authenticated: undefined,
      };
      attachContext(request, context);
      // 1. Rate limits before authentication: a flood costs no crypto.
      try {
        context.admitted = this.throttle.beforeAuth(context);
      } catch (error) {
        context.admitted = refusal(error); // the request's later runs meet the same answer
        return this.refused(context, route, error);
      }
    }
    const admitted = context.admitted;
    if (route.isPublic) {
      if (isPromise(admitted)) return admitted.then(() => this.admitPublic(context, route, httpResponse), (error: unknown) => this.refused(context, route, error));
      return this.admitPublic(context, route, httpResponse);
    }
    // 2-4. Token, proof, the ONE store call: once per request, kept on the context before anything waits, so that other
    // runs for this request (resolvers of one GraphQL request running concurrently) share the same answer.
    let authenticated: MaybePromise<AccessTokenPrincipal>;
    try {
      authenticated = isPromise(admitted) ? admitted.then(() => this.authenticateCounted(context)) : this.authenticateCounted(context);
    } catch (error) {
      context.authenticated = refusal(error);
      return this.refused(context, route, error);
    }
    context.authenticated = authenticated;
    if (isPromise(authenticated)) {
      return authenticated
        .then((principal) => this.admit(context, route, principal, httpRequest, httpResponse, authorize))
        .then(undefined, (error: unknown) => this.refused(context, route, error));
    }
    try {
      return this.admit(context, route, authenticated, httpRequest, httpResponse, authorize);
    } catch (error) {
      return this.refused(context, route, error);
    }
  }

  private admitPublic(context: PipelineContext, route: RoutePolicy, httpResponse: unknown): undefined {
    if (httpResponse) this.headers.success(httpResponse, route, false, context.limits);
    if (this.traced) this.metrics.requestDecided!({ layer: 'throttle', outcome: 'allow', route: route.template }, context.startedMs);
    return undefined;
  }

  /** 5-6. Authorization, then the principal for the handler; layers learn from the allowed request. */
  private admit(context: PipelineContext, route: RoutePolicy, principal: AccessTokenPrincipal, httpRequest: unknown, httpResponse: unknown, authorize: Authorizer): AccessTokenPrincipal {
    context.layer = 'authorization';
    authorize(principal, route);
    setPrincipal(httpRequest, principal);
    if (this.principalProperty) (httpRequest as Record<string, unknown>)[this.principalProperty] = principal;
    for (const stage of this.checkStages) stage.allowed?.(context);
    if (httpResponse) this.headers.success(httpResponse, route, true, context.limits);
    const decision: DefenseDecision = { layer: 'authorization', outcome: 'allow', route: route.template };
    this.metrics.decision(decision);
    if (this.traced) this.metrics.requestDecided!(decision, context.startedMs);
    return principal;
  }

  /** A refusal: reported (metrics, sampled events) by the layer that made it, then thrown on. */
  private refused(context: PipelineContext, route: RoutePolicy, error: unknown): never {
    if (error instanceof JwtDefenseException) {
      const layer = context.layer ?? 'throttle';
      const reason = (error.cause as TokenVerificationError | undefined)?.reason;
      const decision: DefenseDecision = { layer, outcome: 'reject', code: error.code, route: route.template, ...(reason ? { reason } : {}) };
      this.metrics.decision(decision);
      if (this.traced) this.metrics.requestDecided!(decision, context.startedMs);
      // Hostile tokens keep their HTTP code; the finer reason goes to a sampled event (one per client and rule per 10 s).
      if (layer === 'token' && error.code !== 'token_expired') {
        this.events.recordSampled('token_rejected', `${context.clientIp}:${reason ?? error.code}`, {
          ip: context.clientIp,
          details: { code: error.code, ...(reason ? { reason } : {}), route: route.template },
        });
      }
      // A refused DPoP proof (forged, replayed, another key's, a bound token as Bearer): sampled per client and
      // reason; the subject of the verified token and the reason, never the token or the proof.
      if (error instanceof DpopProofException) {
        this.events.recordSampled('dpop_proof_invalid', `${context.clientIp}:${error.reason ?? error.challengeError}`, {
          ip: context.clientIp,
          ...(context.principal ? { sub: context.principal.sub } : {}),
          ...(error.reason ? { reason: error.reason } : {}),
          details: { route: route.template, challenge: error.challengeError },
        });
      }
    }
    throw error;
  }

  /**
   * Stages 2 to 4; a request refused before its ONE store call still counts against its client's per-IP limit (the
   * call would have carried it: a remote store's), and that limit's 429 comes first.
   */
  private authenticateCounted(context: PipelineContext): MaybePromise<AccessTokenPrincipal> {
    let authenticated: MaybePromise<AccessTokenPrincipal>;
    try {
      authenticated = this.authenticate(context);
    } catch (error) {
      return this.countOwed(context, error);
    }
    return isPromise(authenticated) ? authenticated.catch((error: unknown) => this.countOwed(context, error)) : authenticated;
  }

  private countOwed(context: PipelineContext, error: unknown): MaybePromise<never> {
    let owed: void | Promise<void>;
    try {
      owed = this.throttle.countOwed(context);
    } catch (limited) {
      context.layer = 'throttle';
      throw limited;
    }
    if (!owed) throw error;
    return owed.then(
      () => Promise.reject(error),
      (limited: unknown) => {
        context.layer = 'throttle';
        return Promise.reject(limited);
      },
    );
  }

  /** Stages 2 to 4: the token, its DPoP proof, and the ONE store call. */
  private authenticate(context: PipelineContext): MaybePromise<AccessTokenPrincipal> {
    // 2. Token extraction: `Authorization: Bearer` or `DPoP`.
    context.layer = 'edge';
    const presented = extractAccessToken(context.request);
    if (presented === undefined) throw new MissingTokenException();
    context.scheme = presented.scheme;

    // 3. Pre-filter, signature, claims (or the verified-token cache); then a DPoP-bound token's proof.
    context.layer = 'token';
    const verified = this.verify(presented.token);
    if (isPromise(verified)) return verified.then((principal) => this.afterVerify(context, presented, principal));
    return this.afterVerify(context, presented, verified);
  }

  private afterVerify(context: PipelineContext, presented: PresentedToken, principal: AccessTokenPrincipal): MaybePromise<AccessTokenPrincipal> {
    context.principal = principal;
    context.identity = this.cachedIdentity(principal);
    context.layer = 'dpop';
    const proof = this.dpop.verify(context, presented.scheme, presented.token);
    // 4. ONE store call for every layer with per-request state (each stage reports its own refusals).
    const checked = proof ? proof.then(() => this.checkState(context)) : this.checkState(context);
    return checked ? checked.then(() => principal) : principal;
  }

  /**
   * Another guard run for a request already in the pipeline (GraphQL resolvers, possibly concurrent with the first):
   * the same rate-limit answer and authentication (a public run's, or the authenticated one), authorized per route.
   */
  private async again(context: PipelineContext, route: RoutePolicy, httpRequest: unknown, httpResponse: unknown, authorize: Authorizer): Promise<AccessTokenPrincipal | undefined> {
    await context.admitted;
    if (route.isPublic) return undefined;
    const principal = await context.authenticated!;
    authorize(principal, route);
    setPrincipal(httpRequest, principal);
    if (httpResponse) this.headers.success(httpResponse, route, true, context.limits);
    return principal;
  }

  /** The token's principal, at once when the verification answers at once (a cached token, this module's keys). */
  private verify(token: string): MaybePromise<AccessTokenPrincipal> {
    let verified: MaybePromise<AccessTokenPrincipal>;
    try {
      verified = this.verifier.verify(token);
    } catch (error) {
      throw asInvalidToken(error);
    }
    return isPromise(verified) ? verified.catch((error: unknown) => Promise.reject(asInvalidToken(error))) : verified;
  }

  /** Each check stage adds its part (or refuses from memory), ONE store round trip, then each decides in order. */
  private checkState(context: PipelineContext): void | Promise<void> {
    const check: DefenseCheckRequest = { tag: context.identity!.tag, sub: context.identity!.subject, parts: {} };
    for (const stage of this.checkStages) {
      context.layer = stage.layer;
      stage.prepare(context, check);
    }
    context.layer = 'store';
    const startedMs = this.timed ? performance.now() : 0;
    let answer: MaybePromise<DefenseCheckResult>;
    try {
      answer = this.store.check(check);
    } catch (error) {
      return this.storeFailed(context, startedMs, error);
    }
    if (isPromise(answer)) {
      return answer.then(
        (result) => this.answered(context, result, startedMs),
        (error: unknown) => this.storeFailed(context, startedMs, error),
      );
    }
    return this.answered(context, answer, startedMs);
  }

  private answered(context: PipelineContext, result: DefenseCheckResult, startedMs: number): void | Promise<void> {
    if (this.timed) this.metrics.storeCall('check', performance.now() - startedMs, false);
    return this.decide(context, result, 0);
  }

  /** The stages decide in order, from `from`; one that must wait (a containment) holds the next ones back. */
  private decide(context: PipelineContext, result: DefenseCheckResult, from: number): void | Promise<void> {
    for (let index = from; index < this.checkStages.length; index++) {
      const stage = this.checkStages[index];
      context.layer = stage.layer;
      const pending = stage.decide(context, result);
      if (pending) return pending.then(() => this.decide(context, result, index + 1));
    }
  }

  private storeFailed(context: PipelineContext, startedMs: number, error: unknown): void {
    if (this.timed) this.metrics.storeCall('check', performance.now() - startedMs, true);
    for (const stage of this.checkStages) stage.failed?.(context, error);
    this.failures.handle(error, 'store', context.route.failMode, context);
  }

  /** Verified principals are cached per token: hash each one's subject once, not on every request. */
  private cachedIdentity(principal: AccessTokenPrincipal): PrincipalIdentity {
    let identity = this.identities.get(principal);
    if (!identity) {
      identity = identityOf(principal, this.tokens.issuer);
      this.identities.set(principal, identity);
    }
    return identity;
  }
}
