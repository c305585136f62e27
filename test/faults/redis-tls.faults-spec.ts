import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { aclRulesFromDoc, redisVersion } from '../support/redis-acl.js';
import { DEMO_BUILD_MAIN, startDemoProcess, type DemoProcess } from '../support/demo-process.js';
import { RedisServer } from '../support/redis-server.js';

const execFileAsync = promisify(execFile);
const ROOT = join(__dirname, '../..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const PASSWORD = 'tls-acl-Pw-5e7d0c9b8a7f6e5d4c3b';
const WRONG_PASSWORD = 'tls-acl-Wrong-1a2b3c4d5e6f7a8b9c';
const ADMIN_PASSWORD = 'redis-admin-Pw-0f1e2d3c4b5a6978';
const METRICS_TOKEN = 'scrape-token-9a8b7c6d5e4f3a2b1c0d';

/** What an operator or an attacker can read: the process's stdout and stderr, and every answer collected. */
interface Seen {
  texts: string[];
}

async function call(seen: Seen, base: string, method: string, path: string, options: { token?: string; body?: object; ip?: string } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.ip ? { 'x-forwarded-for': options.ip } : {}),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body ? { 'content-type': 'application/json' } : {}),
    },
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const text = await res.text();
  seen.texts.push(JSON.stringify([...res.headers]), text);
  return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>, text };
}

/** No password of the run, and no URL that carries one, in anything seen (percent-encoded forms included). */
function expectNoCredentials(texts: string[], urls: string[]): void {
  const all = texts.join('\n');
  for (const secret of [PASSWORD, WRONG_PASSWORD, ADMIN_PASSWORD, ...urls]) {
    expect(all.includes(secret)).toBe(false);
    expect(all.includes(encodeURIComponent(secret))).toBe(false);
  }
  expect(all).not.toMatch(/rediss?:\/\/[^\s"@]*:[^\s"@]*@/);
}

/**
 * jwt-defense's demo on a Redis that serves TLS only (`--port 0 --tls-port`, certificates made by openssl for the
 * test) as the least-privilege user of docs/infrastructure.md, the default user behind a password: the demo trusts
 * the test CA through NODE_EXTRA_CA_CERTS and connects with `rediss://jwtd:<password>@…`. Login, /me, revocation and
 * throttling work as that user over TLS; and the password never shows, in normal operation, with Redis down, or with
 * a wrong password: not on stdout or stderr, not in error bodies or headers, /health/ready or /metrics.
 */
describe('the demo on Redis over TLS as the least-privilege ACL user', () => {
  let redis: RedisServer;
  const demos: DemoProcess[] = [];
  const start = async (url: string, env: Record<string, string> = {}) => {
    const demo = await startDemoProcess(join(ROOT, DEMO_BUILD_MAIN), {
      REDIS_URL: url,
      NODE_EXTRA_CA_CERTS: redis.caFile!,
      LOG_FORMAT: 'json',
      METRICS_TOKEN,
      TRUST_PROXY: '127.0.0.1',
      LOGIN_LIMIT: '3',
      THROTTLE_LIMIT: '20',
      REDIS_COMMAND_TIMEOUT_MS: '300',
      ...env,
    });
    demos.push(demo);
    return demo;
  };

  beforeAll(async () => {
    const built = execFileAsync('npx', ['nest', 'build', 'demo'], { cwd: ROOT });
    redis = await RedisServer.start({ tls: true, requirePass: ADMIN_PASSWORD });
    // createAclUser adds `reset on >password` itself: the doc's other rules.
    const rules = aclRulesFromDoc(await redisVersion(redis), PASSWORD).filter((rule) => !['reset', 'on', `>${PASSWORD}`].includes(rule));
    await redis.createAclUser('jwtd', PASSWORD, rules.join(' '));
    await built;
  }, 90_000);
  afterAll(async () => {
    await Promise.all(demos.map((demo) => demo.stop()));
    await redis?.destroy();
  });

  it('serves login, /me, revocation and throttling as that user over TLS, then 503 while Redis is down, and never shows the password', async () => {
    const url = redis.urlFor({ username: 'jwtd', password: PASSWORD });
    expect(url).toMatch(/^rediss:\/\/jwtd:/);
    const demo = await start(url);
    const seen: Seen = { texts: [] };
    const base = demo.url;

    const login = await call(seen, base, 'POST', '/auth/login', { ip: '192.0.2.1', body: { username: 'alice', password: 'alice-password' } });
    expect(login.status).toBe(200);
    const token = login.body.access_token as string;
    const me = await call(seen, base, 'GET', '/me', { token, ip: '192.0.2.1' });
    expect(me.status).toBe(200);
    expect(me.body.sub).toBe('alice');

    // Revocation: logout revokes the token, the next request refuses it.
    expect((await call(seen, base, 'POST', '/auth/logout', { token, ip: '192.0.2.1' })).status).toBe(204);
    const revoked = await call(seen, base, 'GET', '/me', { token, ip: '192.0.2.1' });
    expect([revoked.status, revoked.body.code]).toEqual([401, 'token_revoked']);
    const admin = (await call(seen, base, 'POST', '/auth/login', { ip: '192.0.2.2', body: { username: 'admin', password: 'admin-password' } })).body.access_token as string;
    const second = (await call(seen, base, 'POST', '/auth/login', { ip: '192.0.2.3', body: { username: 'alice', password: 'alice-password' } })).body.access_token as string;
    expect((await call(seen, base, 'POST', '/admin/users/alice/revoke-all', { token: admin, ip: '192.0.2.2', body: { reason: 'tls test' } })).status).toBeLessThan(300);
    expect((await call(seen, base, 'GET', '/me', { token: second, ip: '192.0.2.3' })).body.code).toBe('token_revoked');

    // Throttling: the login limit per username (3 here) and the per-client limit (20), counted in Redis.
    const logins = [];
    for (let i = 0; i < 4; i++) logins.push((await call(seen, base, 'POST', '/auth/login', { ip: `198.51.100.${i + 1}`, body: { username: 'bob', password: 'wrong' } })).status);
    expect(logins).toEqual([401, 401, 401, 429]);
    const statuses = [];
    for (let i = 0; i < 22; i++) statuses.push((await call(seen, base, 'GET', '/health', { ip: '203.0.113.9' })).status);
    expect(statuses.slice(0, 20).every((status) => status === 200)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);

    const ready = await call(seen, base, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
    const metrics = await call(seen, base, 'GET', '/metrics', { token: METRICS_TOKEN });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^# (HELP|TYPE) /m);

    // It was that user, over TLS (the server has no plain port), that did all this, and it was never refused.
    const clients = (await redis.call('CLIENT', 'LIST')) as string;
    expect(clients).toMatch(/ user=jwtd /);
    expect(await redis.call('ACL', 'LOG')).toEqual([]);
    expect(Number(await redis.call('DBSIZE'))).toBeGreaterThan(0);

    // Redis down: the declared 503, ready says so, metrics still answer; and reconnection attempts log.
    await redis.stop();
    const down = await call(seen, base, 'GET', '/me', { token: admin, ip: '192.0.2.2' });
    expect([down.status, down.body.code]).toEqual([503, 'defense_store_unavailable']);
    expect((await call(seen, base, 'POST', '/auth/login', { ip: '192.0.2.4', body: { username: 'alice', password: 'alice-password' } })).status).toBe(503);
    expect((await call(seen, base, 'GET', '/health/ready')).status).toBe(503);
    expect((await call(seen, base, 'GET', '/metrics', { token: METRICS_TOKEN })).status).toBe(200);
    await sleep(1500);
    await redis.resume();
    let back = 0;
    for (let i = 0; i < 50 && back !== 200; i++) {
      await sleep(100);
      back = (await call(seen, base, 'GET', '/health/ready')).status;
    }
    expect(back).toBe(200);

    expect(demo.output()).toMatch(/"level":"(warn|error)"/); // the outage was logged (so the check below reads real lines)
    expectNoCredentials([...seen.texts, demo.output()], [url]);
  }, 60_000);

  it('with a wrong password: boots, answers the declared 503, and shows neither password', async () => {
    const url = redis.urlFor({ username: 'jwtd', password: WRONG_PASSWORD });
    const demo = await start(url);
    const seen: Seen = { texts: [] };
    const login = await call(seen, demo.url, 'POST', '/auth/login', { ip: '192.0.2.10', body: { username: 'alice', password: 'alice-password' } });
    expect([login.status, login.body.code]).toEqual([503, 'defense_store_unavailable']);
    expect((await call(seen, demo.url, 'GET', '/health/ready')).status).toBe(503);
    expect((await call(seen, demo.url, 'GET', '/metrics', { token: METRICS_TOKEN })).status).toBe(200);
    // Redis saw the failed logins (so the demo did reach it, over TLS, and was refused).
    const log = (await redis.call('ACL', 'LOG')) as unknown[][];
    expect(log.some((entry) => entry.includes('auth'))).toBe(true);
    expect(demo.output()).toMatch(/defence store not reachable at boot/);
    expectNoCredentials([...seen.texts, demo.output()], [url, redis.urlFor({ username: 'jwtd', password: PASSWORD })]);
  }, 60_000);

  it('without the CA the TLS connection is refused (the certificate is verified), and the password does not show', async () => {
    const url = redis.urlFor({ username: 'jwtd', password: PASSWORD });
    const demo = await start(url, { NODE_EXTRA_CA_CERTS: '' });
    const seen: Seen = { texts: [] };
    expect((await call(seen, demo.url, 'GET', '/health/ready')).status).toBe(503);
    expect(demo.output()).toMatch(/defence store not reachable at boot/);
    expectNoCredentials([...seen.texts, demo.output()], [url]);
  }, 60_000);
});
