import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServer } from './support/redis-server.js';

const ROOT = join(__dirname, '..');

function run(command: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, timeout: 180_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

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

describe('npm run gameday', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.destroy());

  it('rehearses the stolen-token incident against a local demo and writes its timeline report (express, memory store)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'jwtd-gameday-'));
    const res = await run('npm', ['run', '--silent', 'gameday', '--', '--out', out]);
    expect(res.out).toMatch(/game day passed: (\d+)\/\1 checks/);
    expect(res.code).toBe(0);
    checkReport(out);
  }, 200_000);

  it('the same rehearsal on Fastify with Redis (the built script, no rebuild)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'jwtd-gameday-'));
    const res = await run('node', ['dist/gameday/gameday/run.js', '--out', out, '--adapter', 'fastify', '--redis', redis.url]);
    expect(res.out).toMatch(/game day passed/);
    expect(res.code).toBe(0);
    checkReport(out);
    expect(readFileSync(join(out, 'GAMEDAY.md'), 'utf8')).toContain('- `HTTP_ADAPTER=fastify`');
  }, 60_000);
});
