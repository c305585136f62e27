import type { IncomingMessage } from 'node:http';
import type { CountedLimit } from '../headers/response-headers.js';
import type { DefenseLayer } from './metrics-sink.js';
import type { DpopProof } from '../dpop/dpop.service.js';
import type { RequestRiskContext } from '../risk/risk-signals.js';
import type { DefenseCheckResult } from '../store/check-part.js';
import type { RouteRateLimit, RoutePolicy } from '../policy/policy.resolver.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import type { PrincipalIdentity } from '../token/token-ids.js';

export type { PrincipalIdentity } from '../token/token-ids.js';

/**
 * What one request carries through the pipeline. Created once per request, with every field (so that every request's
 * context has one shape: property reads stay monomorphic); stages read and set them.
 */
export interface PipelineContext {
  /**
   * The route whose policy decides: the first run's, or, when a public run admitted the request (the GraphQL
   * endpoint's, a public resolver's), the first authenticated run's.
   */
  route: RoutePolicy;
  /** The raw Node request (Express passes it; Fastify's is `request.raw`). */
  readonly request: IncomingMessage;
  /** The framework's request object (Express's or Fastify's), where the parsed `body` is. */
  readonly httpRequest: { body?: unknown };
  /** The client key (trusted-proxy resolution; an IPv6 address grouped by prefix), resolved once. */
  readonly clientIp: string;
  /** The client's own address before grouping, for the throttle allow-list (ThrottleStage). */
  readonly clientAddress: string;
  /** The client is on `throttle.allow`: its per-IP and per-user limits are skipped (ThrottleStage). */
  allowListed?: boolean;
  /** The scheme the token came with (`DPoP` for a sender-constrained one). */
  scheme?: 'Bearer' | 'DPoP';
  /** The verified principal, once verification passed. */
  principal?: AccessTokenPrincipal;
  /** Who the principal is for the store (hash tag) and when its token was issued (ms), computed once per token. */
  identity?: PrincipalIdentity;
  /** The per-IP count owed to a remote store: it goes with the ONE call, or, refused before it, with one hit (ThrottleStage). */
  ipOwed?: { readonly limit: RouteRateLimit; readonly nowMs: number };
  /** The per-user limit of this request (the route's, or the one the principal's claim picks), set when its part is asked (ThrottleStage). */
  userLimit?: RouteRateLimit | false;
  /** The verified DPoP proof of a bound token (DpopStage). */
  proof?: DpopProof;
  /** The request's risk context and what was learned of it (ContextRiskStage). */
  risk?: { context: RequestRiskContext; learn: boolean; result?: DefenseCheckResult };
  /** When the pipeline started this request (`performance.now()`, ms), for a sink's span; 0 when no sink asks. */
  readonly startedMs: number;
  /** The layer deciding now (reported with a refusal, in metrics and events); `throttle` until authentication starts. */
  layer?: DefenseLayer;
  /** Rate limits counted for this request (for the opt-in `RateLimit` fields). */
  limits?: CountedLimit[];
  /** The pre-authentication rate limits of this request (shared by every guard run for the same request). */
  admitted?: void | Promise<void>;
  /** The authentication of this request, once started (shared by every guard run for the same request). */
  authenticated?: AccessTokenPrincipal | Promise<AccessTokenPrincipal>;
}

const CONTEXT = Symbol('jwt-defense.pipeline-context');

/** The pipeline leaves its context on the raw request, so the one header writer sees it on the error path too. */
export function attachContext(request: IncomingMessage, context: PipelineContext): void {
  (request as IncomingMessage & { [CONTEXT]?: PipelineContext })[CONTEXT] = context;
}

export function pipelineContextOf(request: IncomingMessage): PipelineContext | undefined {
  return (request as IncomingMessage & { [CONTEXT]?: PipelineContext })[CONTEXT];
}
