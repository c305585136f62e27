import { IsInt, Max, Min } from 'class-validator';
import { REQUIRED } from '../common/options.js';

/** Refresh sessions (token families, rotated on every use). */
export class SessionOptions {
  declare readonly [REQUIRED]?: {};
  /** Refresh session lifetime, in seconds. Default 604800 (7 days); 60 to 7776000 (90 days). */
  @IsInt() @Min(60) @Max(7_776_000) refreshTokenTtlSec: number = 604_800;
  /**
   * Reuse grace, in seconds (Okta's "grace period", Auth0's "reuse interval"): within it after a rotation, and
   * only while the new refresh token has not been used, presenting the previous refresh token again returns the
   * same new refresh token (and a fresh access token) instead of revoking the family: an honest retry after a
   * lost reply. Default 0: the strict rule (any second use is reuse; a rotation whose store reply timed out
   * answers 503, and retrying it then counts as reuse). At most 300.
   */
  @IsInt() @Min(0) @Max(300) reuseGraceSec: number = 0;
  /**
   * Most live refresh sessions of one user: a login beyond it revokes that user's oldest session (its refresh token
   * and its access tokens answer 401 `token_revoked`; event `session_revoked`, reason `session_limit`), so one account
   * logging in again and again can never fill the store. Default 50; 1 to 10000.
   */
  @IsInt() @Min(1) @Max(10_000) maxSessionsPerUser: number = 50;
}
