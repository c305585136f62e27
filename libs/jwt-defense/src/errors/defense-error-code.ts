/**
 * The closed set of error codes jwt-defense puts in the `code` member of every error body.
 * Switch on these, never on `message`. Each one's JSDoc (`status: when`) is the README's error table
 * (`npm run docs:errors` writes it; test/error-codes-reference.e2e-spec.ts checks it).
 */
export const DEFENSE_ERROR_CODES = [
  /** 401: no bearer token */
  'token_missing',
  /** 401: not a well-formed compact JWS, refused header parameter, bad `kid` syntax, oversized */
  'token_malformed',
  /** 401: `exp` passed (beyond tolerance) */
  'token_expired',
  /** 401: `nbf` or `iat` in the future (beyond tolerance) */
  'token_not_yet_valid',
  /** 401: the jti is denylisted, its session was revoked (logout, refresh reuse), the user was revoked after it was issued, everything before T was revoked, or its `kid` was retired */
  'token_revoked',
  /** 401: unknown `kid`, missing or wrong signature */
  'signature_invalid',
  /** 401: `alg` not on the key's allow-list (`none` included) */
  'algorithm_not_allowed',
  /** 401: wrong `typ`, `iss`, `aud`, lifetime, a missing `sub`/`jti`, a claim of the wrong JSON type */
  'claim_invalid',
  /** 403: missing role or scope (`error="insufficient_scope"`) */
  'insufficient_scope',
  /** 401: step-up required (RFC 9470): a risky context, or an anomaly containment; `WWW-Authenticate: Bearer realm="api", error="insufficient_user_authentication", max_age="0"` */
  'insufficient_user_authentication',
  /** 403: the request's context risk is at or above the deny threshold */
  'risk_denied',
  /** 403: an incident lockdown `deny-non-admin` is in force and the caller has no admin role */
  'lockdown',
  /** 409: retiring the key that signs new tokens: rotate first */
  'signing_key_active',
  /** 409: a rotation would keep more than `incident.maxRotatedKeys` rotated keys and the oldest may still have valid tokens: retire one, or rotate later */
  'key_ring_full',
  /** 401: demo login: unknown user or wrong password (one answer for both) */
  'invalid_credentials',
  /** 400: malformed body or request (JSON nested deeper than 32 levels included), second `Authorization` header, token in the query */
  'invalid_request',
  /** 400: revoking by jti alone a jti that is not provably one of ours: give its `sub` */
  'subject_required',
  /** 401: a DPoP-bound token (or a DPoP-bound refresh session) without its proof, or a proof that is invalid or replayed; with the `DPoP` challenge */
  'invalid_dpop_proof',
  /** 401: `dpop.nonce` is on and the proof does not carry the current server nonce; the answer has `DPoP-Nonce` */
  'use_dpop_nonce',
  /** 429: a rate limit was hit; with `Retry-After` (seconds) */
  'rate_limited',
  /** 503: the store cannot answer and the route fails closed; with `Retry-After` */
  'defense_store_unavailable',
  /** 503: an external issuer's keys are needed (a `kid` not in the cache) and cannot be fetched; with `Retry-After` */
  'issuer_unavailable',
  /** 401: another 401 of the app */
  'unauthorized',
  /** 403: another 403 of the app */
  'forbidden',
  /** 404: no such route, or another 404 of the app */
  'not_found',
  /** 405: another 405 of the app */
  'method_not_allowed',
  /** 413: a body over the size limit */
  'payload_too_large',
  /** 415: a body of a type the route does not take; the demo's auth and admin routes take JSON only (`application/json`, `+json` types) */
  'unsupported_media_type',
  /** 4xx: another 4xx of the app */
  'request_error',
  /** 501: another 501 of the app */
  'not_implemented',
  /** 503: another 503 of the app */
  'service_unavailable',
  /** 500: an unexpected error (logged; the answer shows nothing of it) */
  'internal_error',
] as const;

export type DefenseErrorCode = (typeof DEFENSE_ERROR_CODES)[number];

/** Token verification failures: the subset of codes `TokenService.verify` can raise. */
export type TokenErrorCode = Extract<
  DefenseErrorCode,
  | 'token_malformed'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_revoked'
  | 'signature_invalid'
  | 'algorithm_not_allowed'
  | 'claim_invalid'
>;

/**
 * The one place where user-visible messages are written. Messages are fixed per code: they never
 * carry any part of the token or of the request.
 */
export const DEFENSE_ERROR_MESSAGES: Readonly<Record<DefenseErrorCode, string>> = {
  token_missing: 'Authentication is required.',
  token_malformed: 'The access token is malformed.',
  token_expired: 'The access token has expired.',
  token_not_yet_valid: 'The access token is not valid yet.',
  token_revoked: 'The access token has been revoked.',
  signature_invalid: 'The access token signature is invalid.',
  algorithm_not_allowed: 'The access token algorithm is not allowed.',
  claim_invalid: 'The access token claims are invalid.',
  insufficient_scope: 'The access token does not grant access to this resource.',
  insufficient_user_authentication: 'A stronger authentication is required.',
  risk_denied: 'The request was denied because of its risk.',
  lockdown: 'The service is in lockdown: only administrators are served.',
  signing_key_active: 'This key still signs new tokens: rotate the signing key first.',
  key_ring_full: 'The key ring is full: retire a rotated key, or rotate again once the oldest can no longer have valid tokens.',
  invalid_credentials: 'Invalid credentials.',
  invalid_request: 'The request is invalid.',
  subject_required: 'The subject of this token is required.',
  invalid_dpop_proof: 'The DPoP proof is missing or invalid.',
  use_dpop_nonce: 'The DPoP proof must carry the server nonce.',
  rate_limited: 'Too many requests.',
  defense_store_unavailable: 'The service is temporarily unavailable.',
  issuer_unavailable: 'The token issuer cannot be reached to check this token.',
  unauthorized: 'Unauthorized.',
  forbidden: 'Forbidden.',
  not_found: 'Not found.',
  method_not_allowed: 'Method not allowed.',
  payload_too_large: 'The request body is too large.',
  unsupported_media_type: 'Unsupported media type.',
  request_error: 'The request could not be processed.',
  not_implemented: 'Not implemented.',
  service_unavailable: 'The service is temporarily unavailable.',
  internal_error: 'Internal server error.',
};
