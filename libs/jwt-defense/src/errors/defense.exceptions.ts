import { HttpException, HttpStatus } from '@nestjs/common';
import { DEFENSE_ERROR_MESSAGES, type DefenseErrorCode, type TokenErrorCode } from './defense-error-code.js';

/** The JSON body of every error jwt-defense answers with. */
export interface DefenseErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code: DefenseErrorCode;
}

/** RFC 6750 §3.1 / RFC 9470 error values of a `WWW-Authenticate: Bearer` challenge. */
export type BearerChallengeError =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_user_authentication'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/** Raised by `TokenService.verify` (outside HTTP); the guard turns it into an {@link InvalidTokenException}. */
export class TokenVerificationError extends Error {
  override readonly name = 'TokenVerificationError';
  /** A finer reason than the code (`jwe`, `alg_none`, `header_jku`, `utf8`...): for events and metrics, never the answer. */
  readonly reason?: string;

  constructor(
    readonly code: TokenErrorCode,
    options?: { cause?: unknown; reason?: string },
  ) {
    super(DEFENSE_ERROR_MESSAGES[code], options);
    this.reason = options?.reason;
  }
}

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Builds the standard error body for a status and code; the message comes from the code alone. */
export function defenseErrorBody(statusCode: number, code: DefenseErrorCode): DefenseErrorBody {
  return {
    statusCode,
    error: REASON_PHRASES[statusCode] ?? (statusCode >= 500 ? 'Error' : 'Request Error'),
    message: DEFENSE_ERROR_MESSAGES[code],
    code,
  };
}

/**
 * Base of every HTTP error jwt-defense throws: a fixed status, a stable `code`, and (for auth errors)
 * the `WWW-Authenticate` challenge error to send.
 */
export abstract class JwtDefenseException extends HttpException {
  abstract readonly code: DefenseErrorCode;
  /** `error` of the Bearer challenge; `null` for a challenge without `error` (no token was sent). */
  abstract readonly challengeError: BearerChallengeError | null | undefined;
  /** Seconds for a `Retry-After` header, when the status calls for one. */
  readonly retryAfterSec?: number;
  /** Extra auth-params of the challenge (e.g. `max_age` of an RFC 9470 step-up). */
  readonly challengeParams?: Readonly<Record<string, string>>;
  /** The challenge's scheme when it must be `DPoP` (RFC 9449 §7.1); otherwise the request's decides. */
  readonly challengeScheme?: 'DPoP';
  /** Headers the answer needs besides the challenge (e.g. `DPoP-Nonce`), written by the one header writer. */
  readonly responseHeaders?: Readonly<Record<string, string>>;

  protected constructor(status: number, code: DefenseErrorCode, cause?: unknown) {
    super(defenseErrorBody(status, code), status, { cause });
  }
}

/** 401: no bearer token was sent. The challenge carries only the realm (RFC 6750 §3.1). */
export class MissingTokenException extends JwtDefenseException {
  override readonly name = 'MissingTokenException';
  readonly code = 'token_missing' as const;
  readonly challengeError = null;

  constructor() {
    super(HttpStatus.UNAUTHORIZED, 'token_missing');
  }
}

/** 401: the bearer token was refused; `code` says why. */
export class InvalidTokenException extends JwtDefenseException {
  override readonly name = 'InvalidTokenException';
  readonly challengeError = 'invalid_token' as const;

  constructor(
    readonly code: TokenErrorCode,
    cause?: unknown,
  ) {
    super(HttpStatus.UNAUTHORIZED, code, cause);
  }
}

/** A verification failure (`TokenVerificationError`) is the 401 of its code; anything else stays as it is. */
export function asInvalidToken(error: unknown): unknown {
  return error instanceof TokenVerificationError ? new InvalidTokenException(error.code, error) : error;
}

/** 400: the request itself is malformed (two Authorization headers, a token in the query string...). */
export class InvalidRequestException extends JwtDefenseException {
  override readonly name = 'InvalidRequestException';
  readonly code = 'invalid_request' as const;
  readonly challengeError = 'invalid_request' as const;

  constructor(cause?: unknown) {
    super(HttpStatus.BAD_REQUEST, 'invalid_request', cause);
  }
}

/**
 * 400: a token revocation by jti alone, for a jti that is not provably one of this module's (another issuer's
 * format): its `sub` is needed to find where to record it. Never a silent success.
 */
export class SubjectRequiredException extends JwtDefenseException {
  override readonly name = 'SubjectRequiredException';
  readonly code = 'subject_required' as const;
  readonly challengeError = undefined;

  constructor() {
    super(HttpStatus.BAD_REQUEST, 'subject_required');
  }
}

/**
 * 401: the request's context asks for a new authentication (RFC 9470 step-up): a risky context, or a containment
 * (an anomaly) covering tokens authenticated before it. Challenge: `error="insufficient_user_authentication",
 * max_age="0"`.
 */
export class StepUpRequiredException extends JwtDefenseException {
  override readonly name = 'StepUpRequiredException';
  readonly code = 'insufficient_user_authentication' as const;
  readonly challengeError = 'insufficient_user_authentication' as const;
  override readonly challengeParams = { max_age: '0' };

  constructor() {
    super(HttpStatus.UNAUTHORIZED, 'insufficient_user_authentication');
  }
}

/** 403: the request's context risk is at or above the deny threshold. */
export class RiskDeniedException extends JwtDefenseException {
  override readonly name = 'RiskDeniedException';
  readonly code = 'risk_denied' as const;
  readonly challengeError = undefined;

  constructor() {
    super(HttpStatus.FORBIDDEN, 'risk_denied');
  }
}

/**
 * 401: a DPoP problem (RFC 9449 §7.1): no proof, an invalid or replayed one, a key that is not the token's, a
 * DPoP-bound token sent as Bearer, or a plain token where DPoP is required. Challenge scheme `DPoP`.
 */
export class DpopProofException extends JwtDefenseException {
  override readonly name = 'DpopProofException';
  readonly code = 'invalid_dpop_proof' as const;
  override readonly challengeScheme = 'DPoP' as const;

  constructor(
    readonly challengeError: 'invalid_dpop_proof' | 'invalid_token' = 'invalid_dpop_proof',
    readonly reason?: string,
  ) {
    super(HttpStatus.UNAUTHORIZED, 'invalid_dpop_proof');
  }
}

/** 401: the proof must carry the server's current nonce, sent in `DPoP-Nonce` (RFC 9449 §8). */
export class UseDpopNonceException extends JwtDefenseException {
  override readonly name = 'UseDpopNonceException';
  readonly code = 'use_dpop_nonce' as const;
  readonly challengeError = 'use_dpop_nonce' as const;
  override readonly challengeScheme = 'DPoP' as const;
  override readonly responseHeaders: Readonly<Record<string, string>>;

  constructor(nonce: string) {
    super(HttpStatus.UNAUTHORIZED, 'use_dpop_nonce');
    this.responseHeaders = { 'dpop-nonce': nonce };
  }
}

/** 403: an incident lockdown (`deny-non-admin`) is in force and the principal has none of the admin roles. */
export class LockdownException extends JwtDefenseException {
  override readonly name = 'LockdownException';
  readonly code = 'lockdown' as const;
  readonly challengeError = undefined;

  constructor() {
    super(HttpStatus.FORBIDDEN, 'lockdown');
  }
}

/** 409: retiring the key that signs new tokens would lock every new login out: rotate first. */
export class SigningKeyActiveException extends JwtDefenseException {
  override readonly name = 'SigningKeyActiveException';
  readonly code = 'signing_key_active' as const;
  readonly challengeError = undefined;

  constructor(readonly kid: string) {
    super(HttpStatus.CONFLICT, 'signing_key_active');
  }
}

/**
 * 409: a rotation would keep more rotated keys than `incident.maxRotatedKeys`, and the oldest may still have valid
 * tokens (it stopped signing less than the longest access-token lifetime, plus the clock tolerance, ago). Retire a
 * rotated key first, or rotate again later.
 */
export class KeyRingFullException extends JwtDefenseException {
  override readonly name = 'KeyRingFullException';
  readonly code = 'key_ring_full' as const;
  readonly challengeError = undefined;

  constructor(cause?: unknown) {
    super(HttpStatus.CONFLICT, 'key_ring_full', cause);
  }
}

/** 403: the token is valid but lacks a required role or scope. */
export class InsufficientScopeException extends JwtDefenseException {
  override readonly name = 'InsufficientScopeException';
  readonly code = 'insufficient_scope' as const;
  readonly challengeError = 'insufficient_scope' as const;

  constructor() {
    super(HttpStatus.FORBIDDEN, 'insufficient_scope');
  }
}

/** 503: the store cannot answer (down, hung, full) and the layer fails closed. `Retry-After: 1`. */
export class DefenseStoreUnavailableException extends JwtDefenseException {
  override readonly name = 'DefenseStoreUnavailableException';
  readonly code = 'defense_store_unavailable' as const;
  readonly challengeError = undefined;
  override readonly retryAfterSec = 1;

  constructor(cause?: unknown) {
    super(HttpStatus.SERVICE_UNAVAILABLE, 'defense_store_unavailable', cause);
  }
}

/** 503: an external issuer's keys are needed and cannot be fetched (known keys keep working from the cache). */
export class IssuerUnavailableException extends JwtDefenseException {
  override readonly name = 'IssuerUnavailableException';
  readonly code = 'issuer_unavailable' as const;
  readonly challengeError = undefined;
  override readonly retryAfterSec = 5;

  constructor(cause?: unknown) {
    super(HttpStatus.SERVICE_UNAVAILABLE, 'issuer_unavailable', cause);
  }
}

/** 429: a rate limit was hit. `Retry-After` says when to come back, in seconds. */
export class RateLimitedException extends JwtDefenseException {
  override readonly name = 'RateLimitedException';
  readonly code = 'rate_limited' as const;
  readonly challengeError = undefined;

  constructor(override readonly retryAfterSec: number) {
    super(HttpStatus.TOO_MANY_REQUESTS, 'rate_limited');
  }
}

/**
 * 403: a request arrived through an execution context (`rpc`, `ws`, `graphql`) the module is not configured
 * for. Refused rather than waved through: an unprotected transport is a hole in every policy.
 */
export class TransportNotConfiguredException extends JwtDefenseException {
  override readonly name = 'TransportNotConfiguredException';
  readonly code = 'forbidden' as const;
  readonly challengeError = undefined;

  constructor(readonly transport: string) {
    super(HttpStatus.FORBIDDEN, 'forbidden');
  }
}
