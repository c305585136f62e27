/** Injection token of the resolved (defaulted, validated, key-imported) options. */
export const JWT_DEFENSE_OPTIONS = Symbol('JWT_DEFENSE_OPTIONS');

/**
 * Where the base security headers are set: `guard` when the global JwtDefenseGuard and the exception filter
 * between them see every response (no middleware pass needed), `middleware` otherwise.
 */
export const JWT_DEFENSE_HEADERS_MODE = Symbol('JWT_DEFENSE_HEADERS_MODE');
export type HeadersMode = 'guard' | 'middleware';
