import type { ServerResponse } from 'node:http';
import { buildHeaderSet, type HeaderSet, type SecurityHeadersOptions } from './security-headers.options.js';

/** The headers a `@SecurityHeaders()` route sets and removes, computed once per route. */
export interface RouteHeaders {
  readonly set: HeaderSet;
  readonly removed: readonly string[];
}

export function routeHeadersFor(
  overrides: SecurityHeadersOptions | undefined,
  defaults: Required<SecurityHeadersOptions> | undefined,
  defaultSet: HeaderSet,
): RouteHeaders | undefined {
  if (!overrides || !defaults) return undefined;
  const set = buildHeaderSet({ ...defaults, ...overrides });
  const names = new Set(set.map(([name]) => name));
  return { set, removed: defaultSet.map(([name]) => name).filter((name) => !names.has(name)) };
}

/** Applies a route's overrides; an authenticated response keeps `Cache-Control: no-store` whatever they say. */
export function applyRouteHeaders(response: ServerResponse, route: RouteHeaders, authenticated: boolean): void {
  for (const name of route.removed) {
    if (!(authenticated && name === 'cache-control')) response.removeHeader(name);
  }
  for (const [name, value] of route.set) {
    if (!(authenticated && name === 'cache-control')) response.setHeader(name, value);
  }
}
