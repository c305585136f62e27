/**
 * The closed set of error codes jwt-defense puts in the `code` member of every error body.
 * Switch on these, never on `message`.
 */
export const DEFENSE_ERROR_CODES = [
  'token_missing',
  'token_malformed',
  'token_expired',
  'token_not_yet_valid',
  'token_revoked',
  'signature_invalid',
  'algorithm_not_allowed',
  'claim_invalid',
  'insufficient_scope',
  'insufficient_user_authentication',
  'risk_denied',
  'lockdown',
  'signing_key_active',
  'key_ring_full',
  'invalid_credentials',
  'invalid_request',
  'subject_required',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'rate_limited',
  'defense_store_unavailable',
  'issuer_unavailable',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'unsupported_media_type',
  'request_error',
  'not_implemented',
  'service_unavailable',
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
