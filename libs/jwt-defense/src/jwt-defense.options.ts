import { IsNotIn, IsOptional, Matches, ValidateIf } from 'class-validator';
import { RiskOptions } from './risk/risk.options.js';
import { AnomalyOptions } from './monitoring/anomaly.options.js';
import { Nested, NestedList, NestedUnion, OptionsCheck, optionsError, REQUIRED, resolveOptions, type OptionsInput } from './common/options.js';
import { IssuerOptions } from './issuers/issuer.options.js';
import { DpopOptions } from './dpop/dpop.options.js';
import { TransportsOptions } from './transports/transports.options.js';
import { IncidentOptions } from './incident/incident.options.js';
import { ProxyOptions } from './edge/proxy.options.js';
import { SecurityHeadersOptions } from './headers/security-headers.options.js';
import type { DefenseMetricsSink } from './pipeline/metrics-sink.js';
import { RevocationOptions } from './revocation/revocation.options.js';
import { SessionOptions } from './session/session.options.js';
import { CustomStoreOptions, MemoryStoreOptions, RedisStoreOptions, type StoreOptions } from './store/store.options.js';
import { ThrottleOptions } from './throttling/throttle.options.js';
import { TokenOptions } from './token/token.options.js';

/** Neither own keys nor issuers: no token could ever be accepted. */
const noTokensToAccept = (what: 'is missing' | 'is empty'): string =>
  `${what} and no issuers are listed: give token { issuer, audience, keys } for this module's own tokens, or issuers: [{ issuer, audience }] for an API that only accepts its identity provider's tokens`;

const SINK_METHODS = ['decision', 'storeCall', 'cacheLookup'] as const;

/** Names a request already has on Node, Express or Fastify (or that would reach its prototype): never a principal's. */
const RESERVED_REQUEST_PROPERTIES = [
  '__proto__', 'constructor', 'prototype', 'body', 'query', 'params', 'headers', 'rawHeaders', 'raw', 'url', 'originalUrl',
  'method', 'socket', 'connection', 'ip', 'ips', 'id', 'log', 'server', 'routeOptions', 'hostname', 'protocol', 'cookies', 'session',
];

/**
 * Options of `JwtDefenseModule.forRoot()` / `forRootAsync()`: one object per layer, each owned (defaults and
 * validation) by its folder. Unknown names at any depth, and out-of-range numbers, stop the app at boot with
 * the option's path and the fix.
 */
@OptionsCheck<JwtDefenseOptions>((options, path) => {
  const prefix = path ? `${path}.` : '';
  // Users are keyed by (issuer, subject), with this module's own users by their bare subject: one issuer, one profile.
  if (options.token.keys.length === 0 && options.issuers.length === 0) {
    throw optionsError(`${prefix}token.keys`, noTokensToAccept('is empty'));
  }
  const seen = new Set<string>(options.token.issuer === undefined ? [] : [options.token.issuer]);
  options.issuers.forEach((issuer, index) => {
    if (issuer.issuer === options.token.issuer) throw optionsError(`${prefix}issuers[${index}].issuer`, 'is token.issuer: this module\'s own tokens are verified with token.keys; list other issuers only');
    if (seen.has(issuer.issuer)) throw optionsError(`${prefix}issuers[${index}].issuer`, 'is listed twice: give each issuer one entry');
    seen.add(issuer.issuer);
  });
  if (options.metrics === undefined) return;
  const sink = options.metrics as unknown as Record<string, unknown>;
  const missing = SINK_METHODS.filter((name) => typeof sink?.[name] !== 'function');
  if (missing.length > 0) throw optionsError(`${prefix}metrics`, `must implement DefenseMetricsSink: missing ${missing.join(', ')}`);
})
export class JwtDefenseOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * Layer 1: the tokens this module issues and verifies (issuer, audience, key ring, lifetimes). Required, unless
   * `issuers` is given and this API issues no tokens of its own (a provider-only resource server). Default: no keys.
   */
  @Nested(() => TokenOptions) token: TokenOptions = new TokenOptions();
  /**
   * External OpenID providers whose access tokens this API also accepts (resource-server mode): `[{ issuer,
   * audience, jwksUri?, ... }]`. Default none.
   */
  @NestedList(() => IssuerOptions) issuers: IssuerOptions[] = [];
  /** GraphQL, WebSocket and microservice contexts: defended by the same pipeline, let through, or refused. */
  @Nested(() => TransportsOptions) transports: TransportsOptions = new TransportsOptions();
  /** DPoP (RFC 9449): sender-constrained tokens. */
  @Nested(() => DpopOptions) dpop: DpopOptions = new DpopOptions();
  /** Shared state: `{ type: 'memory' }` (the default: one process), `{ type: 'redis', connection }`, or `{ type: 'custom', store }`. */
  @NestedUnion('type', () => ({ memory: MemoryStoreOptions, redis: RedisStoreOptions, custom: CustomStoreOptions }))
  store: StoreOptions = { type: 'memory' } as MemoryStoreOptions;
  /** Who the client is behind reverse proxies (trusted proxies, the one header believed). */
  @Nested(() => ProxyOptions) proxy: ProxyOptions = new ProxyOptions();
  /** Layer 2: rate limits per IP, per user and per body field. */
  @Nested(() => ThrottleOptions) throttle: ThrottleOptions = new ThrottleOptions();
  /** Layer 5: revocation, and the fail mode of the per-request check. */
  @Nested(() => RevocationOptions) revocation: RevocationOptions = new RevocationOptions();
  /** Refresh sessions. */
  @Nested(() => SessionOptions) session: SessionOptions = new SessionOptions();
  /** Layer 3: context risk (country, device, hour), with step-up and deny. Off by default. */
  @Nested(() => RiskOptions) risk: RiskOptions = new RiskOptions();
  /** Layer 4: per user × route rate baselines, with alerts and containment. Off by default. */
  @Nested(() => AnomalyOptions) anomaly: AnomalyOptions = new AnomalyOptions();
  /** The incident toolkit: admin roles served during a lockdown, the key-encryption key of rotated signing keys. */
  @Nested(() => IncidentOptions) incident: IncidentOptions = new IncidentOptions();
  /** Layer 6: security headers on every answer (`false` turns the layer off; `true` or an object of overrides). */
  @Nested(() => SecurityHeadersOptions, { orBoolean: 'both' }) securityHeaders: SecurityHeadersOptions | false = new SecurityHeadersOptions();
  /** Realm of the `WWW-Authenticate` challenges (printable ASCII, no quote or backslash). Default `api`. */
  @Matches(/^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/, { message: 'realm must be 1-64 printable ASCII characters without a quote or a backslash' })
  realm: string = 'api';
  /**
   * The request property that also holds the verified principal, as Passport's `req.user` does, so that existing
   * `@Req() req.user` code keeps working: a property name, or `false` for none (`@CurrentPrincipal()` works either
   * way). Set on the framework's request object (Express's `req`, Fastify's `request`), only on requests that carry
   * a verified token; the object is the frozen `AccessTokenPrincipal`. Default `user`.
   */
  @ValidateIf((_options, value) => value !== false)
  @Matches(/^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/, { message: 'principalProperty must be a property name (letters, digits, _ or $, not starting with a digit) or false' })
  @IsNotIn(RESERVED_REQUEST_PROPERTIES, { message: 'principalProperty must not be a name the request already has ($constraint1)' })
  principalProperty: string | false = 'user';
  /**
   * Where the pipeline reports decisions, store calls and cache lookups: `PrometheusDefenseMetrics`
   * (`@jwt-defense/core/prometheus`) or `OpenTelemetryDefenseMetrics` (`@jwt-defense/core/opentelemetry`, with a span per
   * request). Default: nowhere.
   */
  @IsOptional() metrics?: DefenseMetricsSink;
}

/** What a user passes to `forRoot()` (or returns from the `forRootAsync()` factory). */
export type JwtDefenseModuleOptions = OptionsInput<JwtDefenseOptions>;

/** Applies defaults and validates; throws a `TypeError` naming the option and the fix. */
export function resolveJwtDefenseOptions(raw: JwtDefenseModuleOptions): JwtDefenseOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new TypeError('jwt-defense: options are missing: pass { token: { issuer, audience, keys } } to JwtDefenseModule.forRoot()');
  }
  if ((!('token' in raw) || raw.token === undefined) && (!Array.isArray(raw.issuers) || raw.issuers.length === 0)) {
    throw optionsError('token', noTokensToAccept('is missing'));
  }
  return resolveOptions(JwtDefenseOptions, raw);
}

export type { FailMode } from './pipeline/fail-mode.js';
