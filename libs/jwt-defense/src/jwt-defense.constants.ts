/** Metadata key prefix shared by every jwt-defense decorator. */
export const METADATA_PREFIX = 'JWT_DEFENSE:';

/** The `typ` header value of access tokens (RFC 9068 §2.1). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Hard cap on the access-token lifetime: 15 minutes. */
export const MAX_ACCESS_TOKEN_TTL_SEC = 900;

/** Default access-token lifetime: 5 minutes. */
export const DEFAULT_ACCESS_TOKEN_TTL_SEC = 300;

/** Default clock tolerance for `exp`, `nbf` and `iat` checks. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/** Default cap on the size of a compact JWT (bytes); larger tokens are refused before any parsing. */
export const DEFAULT_MAX_TOKEN_BYTES = 8192;

/** A `kid` is a string of `[A-Za-z0-9._-]{1,64}`. */
export const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
