import { ArrayNotEmpty, IsArray, IsBoolean, IsDefined, IsOptional, IsString, Length, Matches } from 'class-validator';
import { Nested, OptionsCheck, optionsError, REQUIRED, type OptionsInput } from '../common/options.js';

/** A URL path of plain segments (`admin`, `ops/admin`): letters, digits and `._~-`. */
const PATH_SEGMENTS = /^\/?[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*\/?$/;
/** An absolute path of this app (`/auth/login`), same characters. */
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*$/;

/** What `/metrics` serves: prom-client's `Registry` (or anything that renders the Prometheus text format). */
export interface OpsMetricsRegistry {
  metrics(): Promise<string> | string;
}

/** `GET /metrics`: the Prometheus text of the app's registry. */
@OptionsCheck<OpsMetricsOptions>((options, path) => {
  if (typeof (options.registry as Partial<OpsMetricsRegistry> | undefined)?.metrics !== 'function') {
    throw optionsError(`${path}.registry`, "must be a prom-client Registry (an object with metrics()): pass the registry given to PrometheusDefenseMetrics, or set metrics: false");
  }
})
export class OpsMetricsOptions {
  declare readonly [REQUIRED]?: { registry: true };
  /** The registry to serve, e.g. the one given to `PrometheusDefenseMetrics({ registry })`. Required. */
  @IsDefined() registry!: OpsMetricsRegistry;
  /**
   * A static bearer token for scrapers (they cannot log in every 5 minutes), beside an admin's access token:
   * `Authorization: Bearer <token>`, compared in constant time. 16 to 512 characters (e.g. `openssl rand -hex 32`). Default: none.
   */
  @IsOptional() @IsString() @Length(16, 512) @Matches(/^[\x21-\x7e]+$/) token?: string;
  /** `true`: `/metrics` answers without any token (a scraper on a private network). Default `false`. */
  @IsBoolean() public: boolean = false;
}

/** `GET {path}/dashboard`: the security dashboard page, and where it signs its admin in and out. */
export class OpsDashboardOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * The app's login route, an absolute path as the browser requests it (with the app's global prefix, if any): the
   * page posts `{username, password}` there and uses the `access_token` of the answer. Default `/auth/login`.
   */
  @IsString() @Matches(ABSOLUTE_PATH) loginPath: string = '/auth/login';
  /**
   * The app's logout route, an absolute path as the browser requests it: "Sign out" posts there (no body, with the token) to revoke the token.
   * Default: none (signing out only forgets the token in the page).
   */
  @IsOptional() @IsString() @Matches(ABSOLUTE_PATH) logoutPath?: string;
}

/** `JwtDefenseOpsModule.forRoot(options)`: the operations endpoints, each surface switchable. */
@OptionsCheck<JwtDefenseOpsOptions>((options, path) => {
  if (options.dashboard && !options.incident) throw optionsError(`${path}.dashboard`, 'needs the incident API (incident: true), which it shows and drives: set dashboard: false');
})
export class JwtDefenseOpsOptions {
  declare readonly [REQUIRED]?: {};
  /** The admin API's prefix (`POST /{path}/incident/lockdown`, `GET /{path}/dashboard`). Default `admin`. */
  @IsString() @Matches(PATH_SEGMENTS) path: string = 'admin';
  /**
   * Roles of the admin API and of `/metrics` (any one of them; 403 `insufficient_scope` otherwise). Default
   * `['admin']`. Who is still served during a `deny-non-admin` lockdown is `incident.adminRoles` of
   * `JwtDefenseModule`.
   */
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) @Matches(/^[\x21-\x7e]{1,255}$/, { each: true }) roles: string[] = ['admin'];
  /**
   * The incident API: revoke a user, a token, everything before a time; lockdown; status; security events and their
   * NDJSON export; rotate and retire signing keys (only when the module has keys of its own). Default `true`.
   */
  @IsBoolean() incident: boolean = true;
  /** `GET /.well-known/jwks.json`: the public signing keys (only when the module has keys of its own). Default `true`. */
  @IsBoolean() jwks: boolean = true;
  /**
   * `GET /health/live`, `GET /health/ready` (public, `{status}` only; ready is 503 `defense_store_unavailable` with
   * `Retry-After` while a fail-closed store is down) and `GET /{path}/health` (the store's details, admins only).
   * Default `true`.
   */
  @IsBoolean() health: boolean = true;
  /** `GET /metrics` (`{ registry, token?, public? }`), or `false`. Default `false` (not mounted). */
  @Nested(() => OpsMetricsOptions, { orBoolean: 'false' }) metrics: OpsMetricsOptions | false = false;
  /** The security dashboard (`true`: its defaults; `{ loginPath, logoutPath }`), or `false`. Default `true`. */
  @Nested(() => OpsDashboardOptions, { orBoolean: 'both' }) dashboard: OpsDashboardOptions | false = new OpsDashboardOptions();
}

/** What a user passes to `JwtDefenseOpsModule.forRoot()`. */
export type JwtDefenseOpsModuleOptions = OptionsInput<JwtDefenseOpsOptions>;
