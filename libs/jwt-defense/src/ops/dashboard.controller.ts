import { Get, Header, Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { SecurityHeaders } from '../headers/security-headers.decorator.js';
import { Public } from '../policy/defense-policy.decorator.js';
import { dashboardPage, type DashboardPaths } from './dashboard/dashboard.page.js';
import { DASHBOARD_JS } from './dashboard/dashboard.script.js';
import { DASHBOARD_CSS, DASHBOARD_ICON } from './dashboard/dashboard.style.js';

/** Where the dashboard page finds the admin API, the login and logout routes and the readiness probe. */
export const DASHBOARD_PATHS = Symbol('JWT_DEFENSE_DASHBOARD_PATHS');

/**
 * The page's CSP: its own script and stylesheet, fetches to its own origin, nothing inline, no framing, no form
 * posts, no plugins, no base-URI tricks.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET {path}/dashboard`: the security dashboard. The page and its three files are public (a browser cannot send a
 * bearer header when it navigates); every datum and action goes through the admin API with an admin's token
 * obtained in the page.
 */
/** What a global prefix may hold to be put in the page's URLs as it is (as the module's own paths). */
const SAFE_PREFIX = /^[A-Za-z0-9._~/-]*$/;

@Public()
export class DashboardController implements OnApplicationBootstrap {
  private html = '';

  constructor(
    @Inject(DASHBOARD_PATHS) private readonly paths: DashboardPaths,
    private readonly config: ApplicationConfig,
  ) {}

  /**
   * The page's own URLs (its files, the admin API, the probe) carry the app's global prefix, set in main.ts after the
   * module is built (`app.setGlobalPrefix()`): read once it is known. The login and logout routes are the app's, given
   * as the browser requests them.
   */
  onApplicationBootstrap(): void {
    const prefix = this.config.getGlobalPrefix().replace(/^\/+|\/+$/g, '');
    if (!SAFE_PREFIX.test(prefix)) {
      throw new TypeError('jwt-defense: the dashboard cannot put this global prefix in its URLs: use letters, digits and ._~/- in app.setGlobalPrefix(), or ops.dashboard: false');
    }
    const prefixed = (path: string) => (prefix ? `/${prefix}${path}` : path);
    const { page, api, ready } = this.paths;
    this.html = dashboardPage({ ...this.paths, page: prefixed(page), api: prefixed(api), ready: ready === undefined ? undefined : prefixed(ready) });
  }

  @Get()
  @SecurityHeaders({ contentSecurityPolicy: DASHBOARD_CSP })
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return this.html;
  }

  @Get('dashboard.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  script(): string {
    return DASHBOARD_JS;
  }

  @Get('dashboard.css')
  @Header('content-type', 'text/css; charset=utf-8')
  style(): string {
    return DASHBOARD_CSS;
  }

  @Get('favicon.svg')
  @Header('content-type', 'image/svg+xml')
  icon(): string {
    return DASHBOARD_ICON;
  }
}
