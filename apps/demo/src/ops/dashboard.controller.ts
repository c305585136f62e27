import { Controller, Get, Header } from '@nestjs/common';
import { Public, SecurityHeaders } from '@jwt-defense/core';
import { DASHBOARD_HTML } from './dashboard/dashboard.page.js';
import { DASHBOARD_JS } from './dashboard/dashboard.script.js';
import { DASHBOARD_CSS, DASHBOARD_ICON } from './dashboard/dashboard.style.js';

/**
 * The page's CSP: its own script and stylesheet, fetches to its own origin, nothing inline, no framing, no form
 * posts, no plugins, no base-URI tricks.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET /admin/dashboard`: the security dashboard. The page and its two files are public (a browser cannot send a
 * bearer header when it navigates); every datum and action goes through the admin API with an admin's token
 * obtained in the page.
 */
@Public()
@Controller('admin/dashboard')
export class DashboardController {
  @Get()
  @SecurityHeaders({ contentSecurityPolicy: DASHBOARD_CSP })
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return DASHBOARD_HTML;
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
