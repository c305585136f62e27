import { performance } from 'node:perf_hooks';
import request from 'supertest';
import { userTag } from '../../libs/jwt-defense/src/token/token-ids.js';
import { ADAPTERS, startDemo, type DemoHandle } from '../support/demo-app.js';
import { admin, aliceWithARevokedToken, jtiOf, login, me } from '../support/demo-client.js';
import { boundedLoad, listen } from '../support/load.js';
import { RedisClusterServer } from '../support/redis-server.js';

// A Redis Cluster slot migrated the way `redis-cli --cluster reshard` does it (target IMPORTING, source MIGRATING,
// MIGRATE the keys, SETSLOT NODE everywhere), for the slot that holds a user's state. While a slot migrates, the
// source answers ASK for a key it no longer has, and TRYAGAIN for a multi-key script whose keys are split; the
// target serves a client that sent ASKING, except a multi-key script with a key absent there (TRYAGAIN again). The
// per-request check is one script over eight keys of the user's slot, most of them optional, so it is refused on
// both sides until the migration closes. jwt-defense follows ASK (ioredis) and tries a refused script again within
// the command timeout, so a reshard costs that user some latency, not an answer, and a migration left open gets the
// declared fail mode for that slot's users only.

const COMMAND_TIMEOUT_MS = 500; // the default
const LOGIN_LIMIT = 5;

describe('Redis Cluster slot migration (ASK, TRYAGAIN)', () => {
  let cluster: RedisClusterServer;

  beforeAll(async () => {
    cluster = await RedisClusterServer.start();
  }, 90_000);
  afterAll(async () => {
    await cluster?.destroy();
  });

  const startOn = (adapter: (typeof ADAPTERS)[number], prefix: string) =>
    startDemo(adapter, {
      REDIS_URL: cluster.clusterNodes.map(({ host, port }) => `redis://${host}:${port}`).join(','),
      REDIS_KEY_PREFIX: prefix,
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      THROTTLE_LIMIT: '1000000',
      LOGIN_LIMIT: String(LOGIN_LIMIT),
      TRUST_PROXY: '127.0.0.1/32',
    });

  /** The slot of a user's state (one hash tag for the epoch, denylist, sessions, counters), its master and another master. */
  async function placement(key: string): Promise<{ slot: number; from: number; to: number }> {
    const slot = await cluster.slotOf(key);
    const from = await cluster.masterFor(key);
    const masters = (await cluster.topology()).filter((node) => node.role === 'master').map((node) => node.port);
    return { slot, from, to: masters.find((port) => port !== from)! };
  }

  describe('a reshard under load (Express)', () => {
    let demo: DemoHandle;
    let url: string;
    const PREFIX = 'reshard:';

    beforeAll(async () => {
      demo = await startOn('express', PREFIX);
      url = await listen(demo.app);
    }, 30_000);
    afterAll(async () => {
      await demo?.close();
    });

    it('the user\'s slot moves back and forth while traffic flows: every answer is the right one, no 503, revocations hold', async () => {
      const { adminToken, revoked, active } = await aliceWithARevokedToken(demo, 'before the reshard');
      const { slot, from, to } = await placement(`${PREFIX}{u:${userTag('alice')}}:n:alice`);

      const load = boundedLoad(
        url,
        [
          { path: '/me', headers: { authorization: `Bearer ${active}` } },
          { path: '/me', headers: { authorization: `Bearer ${revoked}` } },
        ],
        { durationSec: 6, connections: 10, timeoutSec: 3 },
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const took: number[] = [];
      let moved = 0;
      for (const [source, target] of [[from, to], [to, from], [from, to], [to, from]]) {
        const startedAt = performance.now();
        await cluster.beginSlotMigration(slot, source, target);
        // Two keys per MIGRATE, so the check also meets the slot with its keys split between the two nodes.
        moved += await cluster.moveSlotKeys(slot, source, target, Number.POSITIVE_INFINITY, 2);
        await cluster.endSlotMigration(slot, source, target);
        took.push(Math.round(performance.now() - startedAt));
        expect(await cluster.masterFor(`${PREFIX}{u:${userTag('alice')}}:n:alice`)).toBe(target);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const tally = await load;
      process.stdout.write(`slot ${slot} resharded 4 times (${took.join(', ')} ms, ${moved} key moves); answers ${JSON.stringify(tally.byStatus)}, codes ${JSON.stringify(tally.byCode)}, slowest ${tally.latencyMaxMs} ms\n`);

      expect(moved).toBeGreaterThanOrEqual(4 * 3); // alice's epoch, denylist entry, sessions... moved each time
      expect(tally.undeclared).toEqual([]);
      expect([tally.timeouts, tally.errors]).toEqual([0, 0]);
      // Nothing failed: the requests that met the migration waited for it to close instead of answering 503.
      expect(Object.keys(tally.byStatus).sort()).toEqual(['200', '401']);
      expect(tally.byCode).toEqual({ token_revoked: expect.any(Number) });
      expect(tally.byStatus[200]).toBeGreaterThan(100);
      expect(tally.byCode.token_revoked).toBeGreaterThan(100);

      const refused = await me(demo, revoked);
      expect([refused.status, refused.body.code]).toEqual([401, 'token_revoked']);
      expect((await me(demo, active)).status).toBe(200);
    }, 60_000);
  });

  describe.each(ADAPTERS)('a migration left open (%s)', (adapter) => {
    let demo: DemoHandle;
    const PREFIX = `open-${adapter}:`;

    beforeAll(async () => {
      demo = await startOn(adapter, PREFIX);
    }, 30_000);
    afterAll(async () => {
      await demo?.close();
    });

    it('that slot\'s checks get the fail mode within the timeout, other users are served, single-key writes follow ASK to the target; closing it restores every answer', async () => {
      const { adminToken, revoked, active } = await aliceWithARevokedToken(demo, 'before the migration');
      const user = await placement(`${PREFIX}{u:${userTag('alice')}}:n:alice`);
      // The per-username login counter lives in its own slot ({t:body:<username>}): a single-key script, pure ASK.
      const counter = await placement(`${PREFIX}{t:body:mallory}`);
      expect(new Set([user.slot, counter.slot, await cluster.slotOf(`${PREFIX}{u:${userTag('admin')}}:n:admin`)]).size).toBe(3);
      const attempt = () => request(demo.server).post('/auth/login').set('X-Forwarded-For', `10.8.${Math.floor(Math.random() * 250)}.1`).send({ username: 'mallory', password: 'wrong' });
      for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);

      await cluster.beginSlotMigration(user.slot, user.from, user.to);
      await cluster.moveSlotKeys(user.slot, user.from, user.to, 1); // keys split between the two nodes
      await cluster.beginSlotMigration(counter.slot, counter.from, counter.to);
      await cluster.moveSlotKeys(counter.slot, counter.from, counter.to); // the counter now only on the target

      // alice's checks: the declared 503 (fail-closed, the demo's default), with Retry-After, bounded, for both tokens.
      for (const token of [active, revoked]) {
        const startedAt = performance.now();
        const res = await me(demo, token);
        const tookMs = performance.now() - startedAt;
        expect([res.status, res.body.code, res.headers['retry-after']]).toEqual([503, 'defense_store_unavailable', expect.any(String)]);
        expect(tookMs).toBeLessThan(3 * COMMAND_TIMEOUT_MS); // a deadline, not a hang
      }
      // Other users, on other slots, are served at once: a migrating slot is not a Redis outage (which would make every
      // request fail fast for a while after a command timed out).
      for (let i = 0; i < 3; i++) expect((await me(demo, adminToken)).status).toBe(200);
      // A revocation of a fresh token of alice's: one key, not on the source, so ASK takes it to the target.
      const third = (await login(demo, 'alice')).access_token;
      const revocation = await admin(demo, adminToken, 'post', `/admin/tokens/${jtiOf(third)}/revoke`, { reason: 'during the migration' });
      expect([revocation.status, revocation.body.revoked]).toEqual([200, true]);
      const entry = `${PREFIX}{u:${userTag('alice')}}:j:${jtiOf(third)}`;
      const keysIn = async (port: number) => (await cluster.node(port).call('CLUSTER', 'GETKEYSINSLOT', user.slot, 1000)) as string[];
      expect([(await keysIn(user.to)).includes(entry), (await keysIn(user.from)).includes(entry)]).toEqual([true, false]);
      // mallory's counter: counted on the target through ASK, exactly: the 4th and 5th attempts, then the limit.
      expect([(await attempt()).status, (await attempt()).status, (await attempt()).status]).toEqual([401, 401, 429]);

      await cluster.moveSlotKeys(user.slot, user.from, user.to);
      await cluster.endSlotMigration(user.slot, user.from, user.to);
      await cluster.endSlotMigration(counter.slot, counter.from, counter.to);

      const refusedBefore = await me(demo, revoked);
      expect([refusedBefore.status, refusedBefore.body.code]).toEqual([401, 'token_revoked']);
      const refusedDuring = await me(demo, third);
      expect([refusedDuring.status, refusedDuring.body.code]).toEqual([401, 'token_revoked']);
      expect((await me(demo, active)).status).toBe(200);
      expect((await attempt()).status).toBe(429);
      expect(await cluster.masterFor(`${PREFIX}{u:${userTag('alice')}}:n:alice`)).toBe(user.to);
    }, 60_000);
  });
});
