import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { rawRequest } from '../common/http.js';
import { graphqlRequest } from '../transports/transport-context.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';

/** Where the guard stores the principal on the raw request (a symbol: no collision with other libraries). */
export const PRINCIPAL = Symbol('jwt-defense.principal');

type WithPrincipal = { [PRINCIPAL]?: AccessTokenPrincipal };

/** The principal of the current request, or `undefined` on a public route. */
export function getPrincipal(request: unknown): AccessTokenPrincipal | undefined {
  return (rawRequest(request) as WithPrincipal)[PRINCIPAL];
}

export function setPrincipal(request: unknown, principal: AccessTokenPrincipal): void {
  (rawRequest(request) as WithPrincipal)[PRINCIPAL] = principal;
}

/** Where the principal of an execution context is: the request, the GraphQL request, the socket, the message context. */
export function principalOf(context: ExecutionContext): AccessTokenPrincipal | undefined {
  switch (context.getType<string>()) {
    case 'graphql': {
      const transport = graphqlRequest(context);
      return transport ? getPrincipal(transport.principalHolder) : undefined;
    }
    case 'ws':
      return getPrincipal(context.switchToWs().getClient());
    case 'rpc':
      return getPrincipal(context.switchToRpc().getContext() ?? {});
    default:
      return getPrincipal(context.switchToHttp().getRequest());
  }
}

/**
 * Parameter decorator: the verified {@link AccessTokenPrincipal} of the request (on HTTP routes, GraphQL resolvers,
 * WebSocket gateway handlers and microservice handlers alike).
 */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): AccessTokenPrincipal | undefined => principalOf(context));
