/** Injection token of the resolved options (every layer's options class, composed). */
export const JWT_DEFENSE_OPTIONS = Symbol('JWT_DEFENSE_OPTIONS');

/** The realm of `WWW-Authenticate` challenges (a string). */
export const REALM = Symbol('JWT_DEFENSE_REALM');

/** The {@link DefenseMetricsSink} the pipeline reports to. */
export const DEFENSE_METRICS = Symbol('JWT_DEFENSE_METRICS');

/** The request property that also holds the verified principal (`principalProperty`: a name, or `false`). */
export const PRINCIPAL_PROPERTY = Symbol('JWT_DEFENSE_PRINCIPAL_PROPERTY');

/** The registration switches the module was built with (`JwtDefenseModuleExtras`, defaults applied). */
export const JWT_DEFENSE_EXTRAS = Symbol('JWT_DEFENSE_EXTRAS');

/** `IncidentService`, for the deprecated `RevocationService` methods that delegate to it (it depends on that service). */
export const INCIDENT_FACADE = Symbol('JWT_DEFENSE_INCIDENT_FACADE');

/** The issuers whose users this module knows (`KnownIssuers`: `token.issuer` and `issuers[].issuer`). */
export const KNOWN_ISSUERS = Symbol('JWT_DEFENSE_KNOWN_ISSUERS');
