import { readFileSync } from 'node:fs';
import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import request from 'supertest';
import { createDemoApp } from '../apps/demo/src/demo.app.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { ADAPTERS, writeEs256KeyFiles } from './support/demo-app.js';
import { RedisServer } from './support/redis-server.js';

const REDIS_PASSWORD = 'redis-pw-7f3a9c2e51';
const METRICS_TOKEN = 'scrape-token-5c1f0e9d8b7a6c5d4e3f';

/**
 * A full e2e run with the app's real logger (LOG_FORMAT=json) writing to captured stdout and stderr: every line is
 * one JSON object, incident actions are logged with their actor and reason, and no token, password, key or secret
 * appears anywhere, through logins, refreshes, reuse, forged tokens, every incident action and a Redis outage.
 */
describe.each(ADAPTERS)('logs over %s', (adapter) => {
  let redis: RedisServer;
  let app: INestApplication;
  const keys = writeEs256KeyFiles();
  const written: string[] = [];
  const secrets: string[] = [REDIS_PASSWORD, METRICS_TOKEN, 'alice-password', 'admin-password', keys.keyEncryptionKey];

  beforeAll(async () => {
    redis = await RedisServer.start();
    // A password in REDIS_URL, so the test shows it never reaches a log line.
    const setup = new Redis({ port: redis.port, host: '127.0.0.1' });
    await setup.config('SET', 'requirepass', REDIS_PASSWORD);
    setup.disconnect();
    for (const stream of [process.stdout, process.stderr]) {
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return true;
      });
    }
    const config = loadDemoConfig({
      HTTP_ADAPTER: adapter,
      LOG_FORMAT: 'json',
      JWT_PRIVATE_KEY_FILE: keys.privateKeyFile,
      JWT_KEY_ENCRYPTION_KEY: keys.keyEncryptionKey,
      REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`,
      REDIS_KEY_PREFIX: `logs-${adapter}:`,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      METRICS_TOKEN,
      THROTTLE_LIMIT: '100000',
      LOGIN_LIMIT: '100000',
    });
    app = await createDemoApp(config);
    await app.init();
    if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  });
  afterAll(async () => {
    await app?.close();
    jest.restoreAllMocks();
    await redis?.destroy();
  });

  it('a full flow logs structured lines, with the incident actions, and never a token, password or secret', async () => {
    const server = app.getHttpServer();
    const loginAs = async (username: string) => (await request(server).post('/auth/login').send({ username, password: `${username}-password` })).body;
    const alice = await loginAs('alice');
    let adminToken: string = (await loginAs('admin')).access_token;
    secrets.push(alice.access_token, alice.refresh_token, adminToken);

    await request(server).post('/auth/login').send({ username: 'alice', password: 'not-alice-password' });
    await request(server).post('/auth/login').set('content-type', 'application/json').send('{"username":"alice","password":"alice-password"');
    await request(server).get('/me').set('Authorization', `Bearer ${alice.access_token}`);
    await request(server).get('/me').set('Authorization', `Bearer ${alice.access_token.slice(0, -3)}xyz`);
    await request(server).get(`/me?access_token=${alice.access_token}`);
    const refreshed = (await request(server).post('/auth/refresh').send({ refresh_token: alice.refresh_token })).body;
    secrets.push(refreshed.access_token, refreshed.refresh_token);
    await request(server).post('/auth/refresh').send({ refresh_token: alice.refresh_token }); // reuse: the family dies
    await request(server).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`);
    await request(server).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}-wrong`);

    const adminCall = (path: string, body: object) => request(server).post(path).set('Authorization', `Bearer ${adminToken}`).send(body);
    const session = await loginAs('alice');
    secrets.push(session.access_token, session.refresh_token);
    const { jti } = (await request(server).get('/me').set('Authorization', `Bearer ${session.access_token}`)).body;
    await adminCall(`/admin/tokens/${jti}/revoke`, { reason: 'log test: token' });
    await adminCall('/admin/users/alice/revoke-all', { reason: 'log test: user' });
    await adminCall('/admin/incident/lockdown', { mode: 'deny-non-admin', reason: 'log test: lockdown' });
    await adminCall('/admin/incident/lockdown', { mode: 'off', reason: 'log test: lockdown off' });
    const oldKid = JSON.parse(Buffer.from(adminToken.split('.')[0], 'base64url').toString()).kid;
    expect((await adminCall('/admin/incident/rotate-key', { reason: 'log test: rotate' })).status).toBe(200);
    adminToken = (await loginAs('admin')).access_token;
    secrets.push(adminToken);
    expect((await adminCall(`/admin/incident/retire-key/${oldKid}`, { reason: 'log test: retire' })).status).toBe(200);
    await adminCall('/admin/incident/revoke-before', { reason: 'log test: everything' });

    // A Redis outage: logins, checks and the background refresh fail, and log it.
    await redis.stop();
    const during = await loginAs('alice');
    expect(during.code).toBe('defense_store_unavailable');
    await request(server).get('/me').set('Authorization', `Bearer ${adminToken}`);
    await request(server).get('/health/ready');
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const output = written.join('');
    const lines = output.split('\n').filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(5);
    const entries = lines.map((line) => JSON.parse(line) as { level: string; context?: string; message: unknown });
    const incident = entries.filter((entry) => typeof entry.message === 'object' && String((entry.message as { message?: string }).message).startsWith('incident:'));
    expect(incident.map((entry) => (entry.message as { message: string }).message)).toEqual(
      expect.arrayContaining(['incident: lockdown changed', 'incident: signing key rotated', 'incident: key retired', 'incident: revoked every token issued before']),
    );
    expect(incident.find((entry) => (entry.message as { message: string }).message === 'incident: signing key rotated')?.message).toMatchObject({
      actor: 'admin',
      reason: 'log test: rotate',
      previousKid: oldKid,
    });
    expect(entries.some((entry) => entry.level === 'warn' && entry.context === 'JwtDefense')).toBe(true);

    // No secret, anywhere: tokens (whole or as their signature), passwords, the KEK, the metrics token, the key.
    const pem = readFileSync(keys.privateKeyFile, 'utf8');
    const pemBody = pem.split('\n').filter((line) => line && !line.startsWith('-----')).join('');
    for (const secret of [...secrets, pemBody.slice(0, 40)]) {
      expect(output.includes(secret)).toBe(false);
      if (secret.split('.').length === 3) expect(output.includes(secret.split('.')[2])).toBe(false);
    }
    expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
    expect(output).not.toMatch(/PRIVATE KEY/);
  }, 30_000);
});
