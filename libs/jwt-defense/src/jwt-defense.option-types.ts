import type { JwtDefenseModuleOptions } from './jwt-defense.options.js';

// What each layer's object of `forRoot({...})` takes, by the name of the class that holds its defaults and checks
// (the names docs/CONFIGURATION.md uses). The classes themselves are internal: these are their input types.

/** `token`: the tokens this module issues and verifies. */
export type TokenOptions = NonNullable<JwtDefenseModuleOptions['token']>;
/** One entry of `issuers`: an external OpenID provider whose access tokens are accepted. */
export type IssuerOptions = NonNullable<JwtDefenseModuleOptions['issuers']>[number];
/** `transports`: GraphQL, WebSocket and microservice contexts. */
export type TransportsOptions = NonNullable<JwtDefenseModuleOptions['transports']>;
/** `dpop`: sender-constrained tokens (RFC 9449). */
export type DpopOptions = NonNullable<JwtDefenseModuleOptions['dpop']>;
/** `store`: `{ type: 'memory' }`, `{ type: 'redis', connection }` or `{ type: 'custom', store }`. */
export type StoreOptions = NonNullable<JwtDefenseModuleOptions['store']>;
/** `proxy`: trusted reverse proxies and the one header believed. */
export type ProxyOptions = NonNullable<JwtDefenseModuleOptions['proxy']>;
/** `throttle`: rate limits per IP, per user and per body field. */
export type ThrottleOptions = NonNullable<JwtDefenseModuleOptions['throttle']>;
/** `revocation`: revocation and the fail mode of the per-request check. */
export type RevocationOptions = NonNullable<JwtDefenseModuleOptions['revocation']>;
/** `session`: refresh sessions. */
export type SessionOptions = NonNullable<JwtDefenseModuleOptions['session']>;
/** `risk`: context risk (layer 3). */
export type RiskOptions = NonNullable<JwtDefenseModuleOptions['risk']>;
/** `anomaly`: per user × route baselines (layer 4). */
export type AnomalyOptions = NonNullable<JwtDefenseModuleOptions['anomaly']>;
/** `incident`: the incident toolkit. */
export type IncidentOptions = NonNullable<JwtDefenseModuleOptions['incident']>;
