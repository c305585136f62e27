import { resolveOptions } from '../common/options.js';
import { buildHeaderSet, SecurityHeadersOptions, type HeaderSet, type SecurityHeadersOverrides } from './security-headers.options.js';

/** The complete header set of a route with `@SecurityHeaders()` overrides, computed once per route. */
export interface RouteHeaders {
  readonly set: HeaderSet;
}

export function routeHeadersFor(
  overrides: SecurityHeadersOverrides | undefined,
  defaults: SecurityHeadersOptions | false,
  routeName: string,
): RouteHeaders | undefined {
  if (!overrides || defaults === false) return undefined;
  const options = resolveOptions(SecurityHeadersOptions, { ...defaults, ...overrides }, `@SecurityHeaders of ${routeName}`);
  return { set: buildHeaderSet(options) };
}
