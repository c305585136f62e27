import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { rawRequest } from '../common/http.js';
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

/** Parameter decorator: the verified {@link AccessTokenPrincipal} of the request. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AccessTokenPrincipal | undefined =>
    getPrincipal(context.switchToHttp().getRequest()),
);
