// `npm run replication-lag [-- --writes N] [-- --out DIR]`: revocations written on a local Redis primary, timed until
// each is readable on its replica (default 1000 writes). Prints a Markdown table; writes replication-lag.json to DIR.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { option } from './cli-option.js';
import { measureReplicationLag, type LagFigures } from './replication-lag.js';

async function main(): Promise<void> {
  const report = await measureReplicationLag(Number(option('--writes') ?? 1000));
  const row = (name: string, lag: LagFigures) => `| ${name} | ${lag.p50Ms} | ${lag.p99Ms} | ${lag.maxMs} | ${lag.meanMs} |`;
  process.stdout.write(
    [
      `Replication lag of revocations, ${report.writes} writes (${report.visibleOnReplica} read back intact), redis-server ${report.redis}, primary and replica on loopback:`,
      '',
      '| measure | p50 ms | p99 ms | max ms | mean ms |',
      '|---|---|---|---|---|',
      row('acknowledged by the primary, from the send', report.primaryAck),
      row('readable on the replica, from the send', report.visibleOnReplicaAfterSend),
      row('WAIT 1 (one replica acknowledged)', report.waitOneReplica),
      '',
      `Replica reads before the revocation showed: p50 ${report.readsBeforeVisible.p50}, max ${report.readsBeforeVisible.max}.`,
      '',
    ].join('\n'),
  );
  const out = option('--out');
  if (out) {
    mkdirSync(resolve(out), { recursive: true });
    writeFileSync(join(resolve(out), 'replication-lag.json'), `${JSON.stringify(report, null, 2)}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`replication-lag: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
