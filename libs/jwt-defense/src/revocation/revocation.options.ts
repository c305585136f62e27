import { IsIn, IsInt, IsNotEmpty, IsString, Max, Min, ValidateIf } from 'class-validator';
import { CronTime } from 'cron';
import { OptionsCheck, optionsError, REQUIRED } from '../common/options.js';

/** What happens to a request when the store cannot answer. */
import { FAIL_MODES, type FailMode } from '../pipeline/fail-mode.js';

/** Layer 5 options, and the fail mode of the per-request check. */
@OptionsCheck<RevocationOptions>((options, path) => {
  if (options.cleanupCron === false) return;
  try {
    new CronTime(options.cleanupCron);
  } catch {
    throw optionsError(`${path}.cleanupCron`, "is not a cron expression (e.g. '0 */5 * * * *'): fix it, or set it to false");
  }
})
export class RevocationOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * Store down during the per-request check (revocation, per-user limit): `closed` answers 503
   * `defense_store_unavailable` with `Retry-After`, `open` lets the request through and records a
   * `store_unavailable` event. Default `closed`; `@DefensePolicy({ failMode })` overrides it per route.
   */
  @IsIn(FAIL_MODES) failMode: FailMode = 'closed';
  /**
   * Kept past what a revocation covers, in seconds (clock skew, late checks): a denylist entry past its token's expiry
   * (never less than the clock tolerance, for which verification still accepts it), an epoch past the lifetimes of
   * the tokens and sessions it covers. Default 900; at most 86400.
   */
  @IsInt() @Min(0) @Max(86_400) graceSec: number = 900;
  /** How often each instance re-reads the global measures (revoke everything before T, retired kids), in ms. Default 1000; 100 to 3600000. */
  @IsInt() @Min(100) @Max(3_600_000) globalStateRefreshMs: number = 1000;
  /** Cron expression (with seconds) of the cleanup job, or `false` for none. Default every 5 minutes (`0 *\/5 * * * *`). */
  @ValidateIf((o: RevocationOptions) => o.cleanupCron !== false) @IsString() @IsNotEmpty() cleanupCron: string | false = '0 */5 * * * *';
  /** Time budget of one cleanup run, in ms. Default 200; 1 to 60000. */
  @IsInt() @Min(1) @Max(60_000) cleanupBudgetMs: number = 200;
}
