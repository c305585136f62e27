import { performance } from 'node:perf_hooks';
import request from 'supertest';
import { userTag } from '../../libs/jwt-defense/src/token/token-ids.js';
import { startDemo, type DemoHandle } from '../support/demo-app.js';
import { aliceWithARevokedToken, login, me } from '../support/demo-client.js';
import { boundedLoad, listen, pollUntil } from '../support/load.js';
import { RedisClusterServer } from '../support/redis-server.js';

// A Redis Cluster with replicas (3 masters, 3 replicas, cluster-node-timeout 1000 ms): the master that holds a user's
// state is SIGKILLed while bounded traffic flows against the demo. During the failover every answer is a declared one
// (never a 500, never a hang); after it, the revocation made before it is still enforced, the login limit still
// counts what it counted, and the client follows the new slot owners (MOVED).

const PREFIX = 'failover:';
const COMMAND_TIMEOUT_MS = 500;
const LOGIN_LIMIT = 5;

describe('Redis Cluster failover under load', () => {
  let cluster: RedisClusterServer;
  let demo: DemoHandle;
  let url: string;

  beforeAll(async () => {
    cluster = await RedisClusterServer.start({ replicas: 1 });
    demo = await startDemo('express', {
      REDIS_URL: cluster.clusterNodes.map(({ host, port }) => `redis://${host}:${port}`).join(','),
      REDIS_KEY_PREFIX: PREFIX,
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      THROTTLE_LIMIT: '1000000',
      LOGIN_LIMIT: String(LOGIN_LIMIT),
      TRUST_PROXY: '127.0.0.1/32',
    });
    url = await listen(demo.app);
  }, 90_000);
  afterAll(async () => {
    await demo?.close();
    await cluster?.destroy();
  });

  it('a killed master: declared answers only during the failover; revocations and rate counts survive it', async () => {
    const { revoked, active } = await aliceWithARevokedToken(demo, 'before the failover');
    // Three of the five wrong-password attempts allowed for this username, counted before the failover.
    const attempt = () => request(demo.server).post('/auth/login').set('X-Forwarded-For', `10.9.${Math.floor(Math.random() * 250)}.1`).send({ username: 'mallory', password: 'wrong' });
    for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);

    // The master that holds alice's state (her epoch, the denylist entry, her counters: one hash tag, one slot).
    const victim = await cluster.masterFor(`${PREFIX}{u:${userTag('alice')}}:n:alice`);

    const load = boundedLoad(
      url,
      [
        { path: '/me', headers: { authorization: `Bearer ${active}` } },
        { path: '/me', headers: { authorization: `Bearer ${revoked}` } },
      ],
      // A request waits at most one command timeout for the store: 3 s without an answer is a hang.
      { durationSec: 8, connections: 10, timeoutSec: 3 },
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const killedAt = performance.now();
    await cluster.killMaster(victim);
    const newMaster = await cluster.waitForFailover(victim);
    const failoverMs = performance.now() - killedAt;
    const tally = await load;
    await pollUntil(async () => (await me(demo, active)).status === 200, 20_000, 'the demo did not recover after the failover');
    const recoveredMs = performance.now() - killedAt;
    process.stdout.write(
      `cluster failover: replica promoted after ${Math.round(failoverMs)} ms, demo answering 200 again after ${Math.round(recoveredMs)} ms; ` +
        `answers ${JSON.stringify(tally.byStatus)}, codes ${JSON.stringify(tally.byCode)}\n`,
    );

    expect(newMaster).not.toBe(victim);
    expect(tally.undeclared).toEqual([]);
    expect(tally.undeclaredCount).toBe(0);
    expect([tally.timeouts, tally.errors]).toEqual([0, 0]);
    // Both kinds of answer flowed (the valid token answered 200 outside the failover, the revoked one 401).
    expect(tally.byStatus[200]).toBeGreaterThan(10);
    expect(tally.byCode.token_revoked).toBeGreaterThan(10);
    expect(tally.byStatus[500]).toBeUndefined();

    // After the failover (the client follows the new owner of the slot: MOVED/refreshed slots), on the promoted replica:
    const refused = await me(demo, revoked);
    expect([refused.status, refused.body.code]).toEqual([401, 'token_revoked']);
    expect((await me(demo, active)).status).toBe(200);
    // The login limit still counts the attempts made before the failover: two more, then 429.
    const after = [];
    for (let i = 0; i < 4; i++) after.push((await attempt()).status);
    expect(after).toEqual([401, 401, 429, 429]);
  }, 120_000);
});
