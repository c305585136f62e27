import type { IncomingMessage } from 'node:http';
import type { CountedLimit } from '../headers/response-headers.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';

/** What one request carries through the pipeline. Created once per request; stages read and add to it. */
export interface PipelineContext {
  readonly route: RoutePolicy;
  /** The raw Node request (Express passes it; Fastify's is `request.raw`). */
  readonly request: IncomingMessage;
  /** The framework's request object (Express's or Fastify's), where the parsed `body` is. */
  readonly httpRequest: { body?: unknown };
  /** The client address (trusted-proxy resolution), resolved once. */
  readonly clientIp: string;
  /** The verified principal, once verification passed. */
  principal?: AccessTokenPrincipal;
  /** Who the principal is for the store (hash tag) and when its token was issued (ms), computed once per token. */
  identity?: PrincipalIdentity;
  /** Rate limits counted for this request (for the opt-in `RateLimit` fields). */
  limits?: CountedLimit[];
}

export interface PrincipalIdentity {
  /** The user's Cluster hash tag. */
  readonly tag: string;
  /** Issue time of the token in epoch ms (ms precision for our own jtis), for revocation epochs. */
  readonly issuedAtMs: number;
}

const CONTEXT = Symbol('jwt-defense.pipeline-context');

/** The pipeline leaves its context on the raw request, so the one header writer sees it on the error path too. */
export function attachContext(request: IncomingMessage, context: PipelineContext): void {
  (request as IncomingMessage & { [CONTEXT]?: PipelineContext })[CONTEXT] = context;
}

export function contextOf(request: IncomingMessage): PipelineContext | undefined {
  return (request as IncomingMessage & { [CONTEXT]?: PipelineContext })[CONTEXT];
}
