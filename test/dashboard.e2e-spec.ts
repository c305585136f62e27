import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import request from 'supertest';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { admin, login, me } from './support/demo-client.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// UPDATE_DOCS_SCREENSHOT=1 writes the README's screenshot (docs/dashboard.png); otherwise a temp file.
const SCREENSHOT_TO_DOCS = process.env.UPDATE_DOCS_SCREENSHOT === '1';

describe.each(ADAPTERS)('security dashboard over %s, in headless Chromium', (adapter) => {
  let demo: DemoHandle;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000', ANOMALY_WARMUP_INTERVALS: '0', ANOMALY_MIN_REQUESTS: '5', ANOMALY_MODE: 'monitor' });
    await demo.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(demo.app.getHttpServer().address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'jwtd-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport: { width: 1280, height: 1600 } });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await demo?.close();
  });

  it('serves the page under a strict CSP: its own script and style only, nothing inline', async () => {
    const res = await request(demo.server).get('/admin/dashboard');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.text).not.toMatch(/\sstyle=|<style/);
    expect(res.text).not.toMatch(/\son[a-z]+=/);
    const script = await request(demo.server).get('/admin/dashboard/dashboard.js');
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|localStorage|sessionStorage/);
    // The data behind it is not public.
    expect((await request(demo.server).get('/admin/incident/status')).status).toBe(401);
  });

  it('loads with no console error, signs in, shows an event the test made, and contains a user from the page', async () => {
    const marker = `dashboard-test-${adapter}-${Date.now()}`;
    const adminToken = (await login(demo, 'admin')).access_token;
    const alice = await login(demo, 'alice');
    const { jti } = (await me(demo, alice.access_token)).body;
    expect((await admin(demo, adminToken, 'post', `/admin/tokens/${jti}/revoke`, { reason: marker })).status).toBe(200);
    const victim = await login(demo, 'alice');
    // An anomaly alert for the chart: a burst on /me.
    for (let i = 0; i < 6; i++) await me(demo, victim.access_token);

    await page.goto(`${base}/admin/dashboard`);
    await page.waitForSelector('#login-form');
    expect(await page.isVisible('#dashboard')).toBe(false);
    await page.fill('#username', 'admin');
    await page.fill('#password', 'admin-password');
    await page.click('#login-button');
    await page.waitForSelector('#dashboard:not([hidden])');
    await page.waitForSelector(`#revocations td:has-text("${marker}")`);
    await page.waitForSelector(`#events td:has-text("${marker}")`);
    await page.waitForSelector('#anomalies td:has-text("/me")');
    expect(await page.locator('#anomaly-chart svg rect.bar-count').count()).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('#store-badge')).toBe('store: ok');
    expect(await page.textContent('#lockdown-badge')).toBe('lockdown: off');
    expect(await page.locator('#keys tbody tr').count()).toBe(1);
    expect(consoleErrors).toEqual([]);
    const screenshot = SCREENSHOT_TO_DOCS ? join(__dirname, '..', 'docs', 'dashboard.png') : join(profile, 'dashboard.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe('PNG');

    // Containment from the page, behind its confirmation: revoke every token of alice.
    expect((await me(demo, victim.access_token)).status).toBe(200);
    await page.fill('#action-revoke-user input[name=sub]', 'alice');
    await page.click('#action-revoke-user button');
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-ok');
    await page.waitForSelector('#confirm-text:has-text("A reason is required")');
    expect((await me(demo, victim.access_token)).status).toBe(200);
    await page.fill('#confirm-reason', 'contained from the dashboard');
    await page.click('#confirm-ok');
    await page.waitForSelector('#action-result:has-text("Done: 200")');
    const after = await me(demo, victim.access_token);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('token_revoked');
    await page.waitForSelector('#revocations td:has-text("contained from the dashboard")');
    const event = (await admin(demo, adminToken, 'get', '/admin/security-events?type=user_revoked&sub=alice&limit=1')).body.events[0];
    expect(event).toMatchObject({ reason: 'contained from the dashboard', details: { actor: 'admin' } });

    // A lockdown from the page: alice's fresh token is refused with 403 lockdown, then lifted.
    const fresh = await login(demo, 'alice');
    await page.selectOption('#action-lockdown select', 'deny-non-admin');
    await page.click('#action-lockdown button');
    await page.fill('#confirm-reason', 'drill');
    await page.click('#confirm-ok');
    await page.waitForSelector('#lockdown-badge:has-text("deny-non-admin")');
    expect((await me(demo, fresh.access_token)).body.code).toBe('lockdown');
    await page.selectOption('#action-lockdown select', 'off');
    await page.click('#action-lockdown button');
    await page.fill('#confirm-reason', 'drill over');
    await page.click('#confirm-ok');
    await page.waitForSelector('#lockdown-badge:has-text("lockdown: off")');
    expect((await me(demo, fresh.access_token)).status).toBe(200);
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('the CSP is enforced: an injected inline script does not run, and is reported', async () => {
    // Runs in the page (a string: the test's own TypeScript has no DOM types).
    const ran = await page.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true;';
      document.body.appendChild(script);
      return window.__inlineRan === true;
    })()`);
    expect(ran).toBe(false);
    await page.waitForTimeout(100);
    expect(consoleErrors.some((text) => /Content Security Policy/.test(text))).toBe(true);
  });

  it('a refused sign-in says why; signing out shows the sign-in form', async () => {
    await page.click('#sign-out');
    await page.waitForSelector('#login-section:not([hidden])');
    await page.fill('#username', 'admin');
    await page.fill('#password', 'wrong-password');
    await page.click('#login-button');
    await page.waitForSelector('#login-error:has-text("invalid_credentials")');
    expect(await page.isVisible('#dashboard')).toBe(false);
  });

  it('Sign out revokes the page\'s token and its session: both answer 401 token_revoked afterwards', async () => {
    const errorsBefore = consoleErrors.length;
    await page.fill('#username', 'admin');
    await page.fill('#password', 'admin-password');
    const [signedIn] = await Promise.all([page.waitForResponse((res) => res.url() === `${base}/auth/login`), page.click('#login-button')]);
    expect(signedIn.status()).toBe(200);
    // What the page got (it keeps the access token in memory; the refresh token names the same session).
    const tokens = (await signedIn.json()) as { access_token: string; refresh_token: string };
    await page.waitForSelector('#dashboard:not([hidden])');
    expect((await me(demo, tokens.access_token)).status).toBe(200);

    const [signedOut] = await Promise.all([page.waitForResponse((res) => res.url() === `${base}/auth/logout`, { timeout: 5000 }), page.click('#sign-out')]);
    expect(signedOut.status()).toBe(204);
    // A fetch without a body: no Content-Type, which the JSON-only auth routes let through.
    expect(signedOut.request().method()).toBe('POST');
    expect(signedOut.request().headers()['content-type']).toBeUndefined();
    await page.waitForSelector('#login-section:not([hidden])');
    expect(await page.isVisible('#dashboard')).toBe(false);
    expect(await page.textContent('#login-error')).toBe('');

    const access = await me(demo, tokens.access_token);
    expect([access.status, access.body.code]).toEqual([401, 'token_revoked']);
    const refreshed = await request(demo.server).post('/auth/refresh').send({ refresh_token: tokens.refresh_token });
    expect([refreshed.status, refreshed.body.code]).toEqual([401, 'token_revoked']);
    expect(consoleErrors.slice(errorsBefore)).toEqual([]);
  }, 60_000);
});
