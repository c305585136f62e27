import { measureReplicationLag } from '../../soak/replication-lag.js';

/**
 * The measurement behind the replication-lag figure of docs/RELIABILITY.md (`npm run replication-lag`), shortened:
 * on a real primary–replica pair, every revocation written on the primary is read back intact from the replica, and
 * the figures are consistent. No speed threshold: only a generous functional bound (each one within 5 s).
 */
describe('replication lag of revocations (a local primary and replica)', () => {
  it('every revocation reaches the replica intact, and the report has every figure', async () => {
    const report = await measureReplicationLag(100, 5000);
    expect(report.writes).toBe(100);
    expect(report.visibleOnReplica).toBe(100);
    expect(report.redis).toMatch(/^\d+\.\d+/);
    for (const lag of [report.primaryAck, report.visibleOnReplicaAfterSend, report.waitOneReplica]) {
      expect(lag).toEqual({ p50Ms: expect.any(Number), p99Ms: expect.any(Number), maxMs: expect.any(Number), meanMs: expect.any(Number) });
      expect(lag.p50Ms).toBeGreaterThanOrEqual(0);
      expect(lag.p50Ms).toBeLessThanOrEqual(lag.p99Ms);
      expect(lag.p99Ms).toBeLessThanOrEqual(lag.maxMs);
      expect(lag.maxMs).toBeLessThan(5000);
    }
    expect(report.visibleOnReplicaAfterSend.p50Ms).toBeGreaterThan(0);
    expect(report.readsBeforeVisible.p50).toBeLessThanOrEqual(report.readsBeforeVisible.max);
  }, 60_000);
});
