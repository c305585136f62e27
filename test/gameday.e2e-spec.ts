import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createDemoApp } from '../apps/demo/src/demo.app.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { renderGamedayReport } from '../gameday/report.js';
import { gamedayDemoEnv, runStolenTokenScenario } from '../gameday/scenario.js';
import { ADAPTERS } from './support/demo-app.js';
import { RedisServer } from './support/redis-server.js';

/** The report is the test's artefact: GAMEDAY.md and events.ndjson in a temp dir, checked here. */
function checkReport(dir: string): void {
  const report = readFileSync(join(dir, 'GAMEDAY.md'), 'utf8');
  expect(report).toMatch(/^# Game day: a stolen access token\n/);
  expect(report).toMatch(/\*\*Result: PASS\*\* \((\d+)\/\1 checks\)/);
  expect(report).not.toContain('- [ ]');
  for (const heading of ['## Milestones', '## Timeline', '## Checks', '## Security events (oldest first)', '## For the post-mortem']) expect(report).toContain(heading);
  const phases = [...report.matchAll(/^\| \+[\d.]+ s \| ([a-z ]+) \|/gm)].map((match) => match[1]);
  const order = ['normal use', 'attack', 'detect', 'contain', 'eradicate', 'recover'];
  expect([...new Set(phases)]).toEqual(order);
  expect(phases.map((phase) => order.indexOf(phase))).toEqual([...phases.map((phase) => order.indexOf(phase))].sort((a, b) => a - b));
  expect(report).toMatch(/\| contain \| attacker \| replays the stolen access token \| 401 token_revoked \|/);
  expect(report).toMatch(/\| first alert \(time to detect\) \| \d+\.\d\d s \|/);
  const events = readFileSync(join(dir, 'events.ndjson'), 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
  expect(events.map((event) => event.type)).toEqual(['risk_denied', 'anomaly_detected', 'user_revoked', 'key_rotated', 'key_retired']);
  expect(events[0]).toMatchObject({ sub: 'alice', details: { mode: 'monitor', country: 'BR' } });
  // No token, password or key material in the artefacts.
  for (const text of [report, readFileSync(join(dir, 'events.ndjson'), 'utf8')]) expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}|alice-password|admin-password|PRIVATE KEY/);
}

/**
 * The game day's scenario and report, in process against the demo (both adapters; memory store and Redis). The
 * command itself, `npm run gameday` (a build, then the same code), runs in `.ci/run` after the tests, which fails when
 * one of its checks does.
 */
describe.each(ADAPTERS)('game day over %s', (adapter) => {
  let redis: RedisServer | undefined;
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    await redis?.destroy();
  });

  it('rehearses the stolen-token incident and writes its timeline report', async () => {
    if (adapter === 'fastify') redis = await RedisServer.start();
    const env = gamedayDemoEnv(adapter, redis?.url);
    app = await createDemoApp(loadDemoConfig({ ...env, JWT_PRIVATE_KEY_FILE: '' }), { logger: false });
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const result = await runStolenTokenScenario(base);
    const out = mkdtempSync(join(tmpdir(), 'jwtd-gameday-'));
    writeFileSync(join(out, 'GAMEDAY.md'), renderGamedayReport(result, { HTTP_ADAPTER: adapter }));
    writeFileSync(join(out, 'events.ndjson'), result.events.map((event) => `${JSON.stringify(event)}\n`).join(''));
    expect(result.checks.filter((check) => !check.ok)).toEqual([]);
    checkReport(out);
    expect(result.milestones.contained! - result.milestones.attack!).toBeGreaterThan(0);
  });
});
