import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { EXIT, connectionFrom, runCli } from '../libs/jwt-defense/src/cli/cli.js';
import { createSecurityEvent } from '../libs/jwt-defense/src/events/security-event.js';
import { RedisDefenseStore } from '../libs/jwt-defense/src/store/redis/redis-defense.store.js';
import { startDemo, writeEs256KeyFiles, type DemoHandle } from './support/demo-app.js';
import { login, me } from './support/demo-client.js';
import { OidcProvider } from './support/oidc-provider.js';
import { freePort } from './support/redis-server.js';
import { useRedisTopologies } from './support/redis-topologies.js';

const redis = useRedisTopologies();
const LIMITS = { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' };
let suite = 0;

/** Runs the CLI in process; returns its exit code and what it printed. `now`: the operator machine's clock. */
async function cliAt(now: (() => number) | undefined, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (text) => (out += text), err: (text) => (err += text), env: {}, now });
  return { code, out, err };
}

const cli = (...argv: string[]) => cliAt(undefined, ...argv);
const claimsOf = (token: string): { iss: string; jti: string } => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

async function eventually(check: () => Promise<void>, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

const TOPOLOGIES: Array<[string, () => string]> = [
  ['redis standalone', () => redis.standalone.url],
  ['redis cluster', () => redis.cluster.clusterNodes.map((node) => `redis://${node.host}:${node.port}`).join(',')],
];

describe.each(TOPOLOGIES)('jwt-defense CLI on %s, with a running demo on the same Redis', (_name, url) => {
  let demo: DemoHandle;
  let prefix: string;
  let base: string[];
  beforeAll(async () => {
    prefix = `cli${suite++}:`;
    demo = await startDemo('express', { ...LIMITS, REDIS_URL: url(), REDIS_KEY_PREFIX: prefix }, writeEs256KeyFiles());
    base = ['--redis', url(), '--prefix', prefix, '--actor', 'oncall-ana'];
  });
  afterAll(() => demo.close());

  it('status shows the signing kid the app declared; retiring it is refused (exit 4), nothing changed', async () => {
    const token = (await login(demo, 'alice')).access_token;
    const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;
    const status = await cli(...base, '--json', 'status');
    expect(status.code).toBe(EXIT.ok);
    expect(JSON.parse(status.out)).toMatchObject({ signing_kid: kid, lockdown: { mode: 'off' }, revoked_before: null, retired_kids: {} });
    const refused = await cli(...base, 'retire-key', kid, '--reason', 'oops');
    expect(refused.code).toBe(EXIT.refused);
    expect(refused.err).toMatch(/rotate the signing key first/);
    expect((await me(demo, token)).status).toBe(200);
    expect((await cli(...base, 'status')).out).toMatch(/retired kids\s+none/);
    // A kid is base64url (the demo's is an RFC 7638 thumbprint) and may begin with "-": it is the argument, not an option.
    const dashed = await cli(...base, 'retire-key', '-old_key', '--reason', 'rotated out');
    expect({ code: dashed.code, err: dashed.err }).toEqual({ code: EXIT.ok, err: '' });
    expect(Object.keys(JSON.parse((await cli(...base, '--json', 'status')).out).retired_kids)).toEqual(['-old_key']);
    expect((await me(demo, token)).status).toBe(200);
  });

  it('revoke-user and revoke-token use the app\'s keys: the running app refuses those tokens at once', async () => {
    const alice = await login(demo, 'alice');
    const adminSession = await login(demo, 'admin');
    const other = await login(demo, 'admin');
    const res = await cli(...base, 'revoke-user', 'alice', '--reason', 'phished');
    expect(res.code).toBe(EXIT.ok);
    // A bare sub names a local user, and the output says so (with the app's own issuer, declared in Redis at boot).
    expect(res.out).toMatch(new RegExp(`^revoked every token of alice, a local user of ${claimsOf(alice.access_token).iss} \\(this module's own tokens\\), issued at or before \\d{4}-`));
    expect((await me(demo, alice.access_token)).body.code).toBe('token_revoked');
    expect((await me(demo, (await login(demo, 'alice')).access_token)).status).toBe(200);

    const { jti } = (await me(demo, adminSession.access_token)).body;
    const revoked = await cli(...base, '--json', 'revoke-token', jti, '--reason', 'leaked in a log');
    expect(revoked.code).toBe(EXIT.ok);
    expect(JSON.parse(revoked.out)).toEqual({ jti, revoked: true, already_revoked: false });
    expect((await me(demo, adminSession.access_token)).body.code).toBe('token_revoked');
    expect((await me(demo, other.access_token)).status).toBe(200);
    expect(JSON.parse((await cli(...base, '--json', 'revoke-token', jti, '--reason', 'again')).out).already_revoked).toBe(true);
    const foreign = await cli(...base, 'revoke-token', 'not-one-of-ours', '--reason', 'x');
    expect(foreign.code).toBe(EXIT.usage);
    expect(foreign.err).toMatch(/--sub/);
  });

  it('lockdown and revoke-before reach the running app within its refresh interval; events show them with the actor', async () => {
    const alice = await login(demo, 'alice');
    expect((await cli(...base, 'lockdown', 'deny-non-admin', '--reason', 'credential stuffing')).code).toBe(EXIT.ok);
    await eventually(async () => expect((await me(demo, alice.access_token)).body.code).toBe('lockdown'));
    expect((await cli(...base, 'lockdown', 'off', '--reason', 'contained')).code).toBe(EXIT.ok);
    await eventually(async () => expect((await me(demo, alice.access_token)).status).toBe(200));

    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await cli(...base, 'revoke-before', '--at', future, '--reason', 'x')).code).toBe(EXIT.usage);
    expect((await cli(...base, 'revoke-before', '--reason', 'signing host compromised')).code).toBe(EXIT.ok);
    await eventually(async () => expect((await me(demo, alice.access_token)).body.code).toBe('token_revoked'));
    expect((await me(demo, (await login(demo, 'alice')).access_token)).status).toBe(200);

    const events = await cli(...base, 'events', '--since', '1h', '--format', 'ndjson');
    expect(events.code).toBe(EXIT.ok);
    const lines = events.out.trimEnd().split('\n').map((line) => JSON.parse(line));
    const ours = lines.filter((event) => event.details?.actor === 'oncall-ana').map((event) => [event.type, event.reason]);
    expect(ours).toEqual(
      expect.arrayContaining([
        ['user_revoked', 'phished'],
        ['token_revoked', 'leaked in a log'],
        ['lockdown_changed', 'credential stuffing'],
        ['lockdown_changed', 'contained'],
        ['global_revoked', 'signing host compromised'],
      ]),
    );
    const times = lines.map((event) => Date.parse(event.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const typed = await cli(...base, 'events', '--type', 'lockdown_changed', '--format', 'json');
    expect(JSON.parse(typed.out).map((event: { details: { mode: string } }) => event.details.mode)).toEqual(['deny-non-admin', 'off']);
  });

  it('an operator machine whose clock runs 5 s fast: revoke-user, revoke-before and a step-up lockdown are dated by Redis, so a login right after each works', async () => {
    const fast = () => Date.now() + 5000;
    const before = (await login(demo, 'alice')).access_token;
    expect((await cliAt(fast, ...base, 'revoke-user', 'alice', '--reason', 'skewed operator')).code).toBe(EXIT.ok);
    expect((await me(demo, before)).body.code).toBe('token_revoked');
    expect((await me(demo, (await login(demo, 'alice')).access_token)).status).toBe(200);

    // An --at that only this machine's clock puts in the past is refused as in the future.
    expect((await cliAt(fast, ...base, 'revoke-before', '--at', new Date(Date.now() + 3000).toISOString(), '--reason', 'x')).code).toBe(EXIT.usage);
    expect((await cliAt(fast, ...base, 'revoke-before', '--reason', 'skewed operator')).code).toBe(EXIT.ok);
    await eventually(async () => expect((await me(demo, before)).body.code).toBe('token_revoked'));
    const fresh = (await login(demo, 'alice')).access_token;
    await sleep(1500); // past the app's refresh of the global state (1 s): it enforces what the CLI wrote
    expect((await me(demo, fresh)).status).toBe(200);

    expect((await cliAt(fast, ...base, 'lockdown', 'step-up', '--reason', 'skewed operator')).code).toBe(EXIT.ok);
    await eventually(async () => expect((await me(demo, fresh)).body.code).toBe('insufficient_user_authentication'));
    expect((await me(demo, (await login(demo, 'alice')).access_token)).status).toBe(200);
    expect((await cli(...base, 'lockdown', 'off', '--reason', 'done')).code).toBe(EXIT.ok);
    await eventually(async () => expect((await me(demo, fresh)).status).toBe(200));
    // Its events are dated by Redis too: in the order they were made, none 5 s ahead.
    const times = JSON.parse((await cli(...base, 'events', '--since', '1h', '--format', 'json')).out).map((event: { at: string }) => Date.parse(event.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.max(...times)).toBeLessThan(Date.now() + 1000);
  });
});

/** What a terminal acts on instead of printing (control characters, bidi controls, line and paragraph separators). */
const ACTIVE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Text with only its own line breaks: nothing else a terminal would act on. */
const lines = (text: string): string[] => {
  const all = text.replace(/\n$/, '').split('\n');
  for (const line of all) expect(line).not.toMatch(ACTIVE);
  return all;
};

describe.each(TOPOLOGIES)('jwt-defense CLI on %s, with a running demo that accepts an external issuer', (name, url) => {
  const AUDIENCE = 'https://api.test';
  let op: OidcProvider;
  let demo: DemoHandle;
  let base: string[];
  let prefix: string;
  const nowSec = () => Math.floor(Date.now() / 1000);
  const external = (sub: string) =>
    op.signArbitraryToken({ iss: op.issuer, aud: AUDIENCE, sub, jti: randomBytes(8).toString('hex'), iat: nowSec(), exp: nowSec() + 300 });
  const jtiOf = (token: string): string => claimsOf(token).jti;
  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' });
    prefix = `cli${suite++}:`;
    demo = await startDemo('express', { ...LIMITS, REDIS_URL: url(), REDIS_KEY_PREFIX: prefix, EXTERNAL_ISSUER: op.issuer, EXTERNAL_AUDIENCE: AUDIENCE, EXTERNAL_CA_FILE: op.caFile });
    base = ['--redis', url(), '--prefix', prefix, '--actor', 'oncall-ana'];
  }, 30_000);
  afterAll(async () => {
    await demo?.close();
    await op?.stop();
  });

  it('revoke-user <sub> --issuer <url> revokes the provider user; without it, a sub spelled like that user never reaches it', async () => {
    const provider = external('kim');
    const alice = (await login(demo, 'alice')).access_token;
    expect((await cli(...base, 'revoke-user', `${op.issuer} kim`, '--reason', 'lookalike')).code).toBe(EXIT.ok);
    expect((await cli(...base, 'revoke-user', 'kim', '--reason', 'own user')).code).toBe(EXIT.ok);
    expect((await me(demo, provider)).status).toBe(200);
    for (const argv of [
      ['revoke-user', 'kim\u001b[2J', '--reason', 'an own sub never has a control character'],
      ['revoke-user', `${op.issuer}\u001fkim`, '--reason', 'spelled like the key'],
      ['revoke-user', 'kim', '--issuer', 'http://idp.example', '--reason', 'not https'],
      ['revoke-user', 'kim', '--issuer', 'https://idp.example/\u0001', '--reason', 'a control character'],
    ]) {
      expect({ argv, code: (await cli(...base, ...argv)).code }).toEqual({ argv, code: EXIT.usage });
    }
    expect((await me(demo, provider)).status).toBe(200);
    const res = await cli(...base, '--json', 'revoke-user', 'kim', '--issuer', op.issuer, '--reason', 'provider user');
    expect(res.code).toBe(EXIT.ok);
    expect(JSON.parse(res.out)).toEqual({ sub: 'kim', iss: op.issuer, local: false, revoked_before: expect.stringMatching(/^\d{4}-/) });
    expect((await me(demo, provider)).body.code).toBe('token_revoked');
    expect((await me(demo, alice)).status).toBe(200);
    // An external issuer's subject may hold anything: it is keyed after the issuer, and shown escaped.
    const hostile = await cli(...base, 'revoke-user', 'kim\u001b[2J\nforged', '--issuer', op.issuer, '--reason', 'x');
    expect(hostile.code).toBe(EXIT.ok);
    expect(lines(hostile.out)).toEqual([expect.stringMatching(/^revoked every token of kim\\x1b\[2J\\x0aforged of https:/)]);
  });

  it('a bare sub is the local user and says so; --issuer <token.issuer> is the local user too; an issuer the app does not have is an error naming those it has', async () => {
    const provider = external('m2m');
    const own = (await login(demo, 'alice')).access_token;
    const ownIssuer = claimsOf(own).iss;
    const bare = await cli(...base, 'revoke-user', 'm2m', '--reason', 'meant the service');
    expect(bare.code).toBe(EXIT.ok);
    expect(lines(bare.out)).toEqual([expect.stringMatching(/^revoked every token of m2m, a local user of .*; a user of https:.* is named with --issuer$/)]);
    expect(JSON.parse((await cli(...base, '--json', 'revoke-user', 'm2m', '--reason', 'again')).out)).toEqual({ sub: 'm2m', iss: ownIssuer, local: true, revoked_before: expect.stringMatching(/^\d{4}-/) });
    expect((await me(demo, provider)).status).toBe(200);
    const help = await cli('revoke-user', '--help');
    expect(help.code).toBe(EXIT.ok);
    expect(help.out).toMatch(/`revoke-user m2m` revokes the local user m2m, never the user m2m of an external issuer/);

    for (const issuer of ['https://unknown.example', `${op.issuer}/`, 'http://idp.example']) {
      const unknown = await cli(...base, 'revoke-user', 'm2m', '--issuer', issuer, '--reason', 'a typo');
      expect({ issuer, code: unknown.code, out: unknown.out }).toEqual({ issuer, code: EXIT.usage, out: '' });
      // The message names the issuer given and those the app has: its own and the external one.
      for (const named of [issuer, ownIssuer, op.issuer]) expect(unknown.err).toContain(named);
    }
    const unknownToken = await cli(...base, 'revoke-token', jtiOf(provider), '--sub', 'm2m', '--issuer', 'https://unknown.example', '--reason', 'a typo');
    expect(unknownToken.code).toBe(EXIT.usage);
    expect((await me(demo, provider)).status).toBe(200);

    // The app's own issuer names its local user: alice's own token is revoked, the provider's alice is not.
    const providerAlice = external('alice');
    const asOwn = await cli(...base, '--json', 'revoke-user', 'alice', '--issuer', ownIssuer, '--reason', 'own issuer named');
    expect(asOwn.code).toBe(EXIT.ok);
    expect(JSON.parse(asOwn.out)).toMatchObject({ sub: 'alice', iss: ownIssuer, local: true });
    expect((await me(demo, own)).body.code).toBe('token_revoked');
    expect((await me(demo, providerAlice)).status).toBe(200);
    const ownToken = (await login(demo, 'alice')).access_token;
    expect((await cli(...base, 'revoke-token', jtiOf(ownToken), '--issuer', ownIssuer, '--reason', 'own issuer named')).code).toBe(EXIT.ok);
    expect((await me(demo, ownToken)).body.code).toBe('token_revoked');

    // Then the provider's m2m, named by its issuer: its token is refused.
    expect((await cli(...base, 'revoke-user', 'm2m', '--issuer', op.issuer, '--reason', 'the service')).code).toBe(EXIT.ok);
    expect((await me(demo, provider)).body.code).toBe('token_revoked');
  });

  it('the issuers come from Redis, where instances declare them: none under a prefix is an error for --issuer; a flushed declaration is made again', async () => {
    const elsewhere = await cli('--redis', url(), '--prefix', `nowhere${suite}:`, 'revoke-user', 'm2m', '--issuer', op.issuer, '--reason', 'wrong prefix');
    expect(elsewhere.code).toBe(EXIT.usage);
    expect(elsewhere.err).toContain('--prefix');
    const client = name === 'redis cluster' ? new Cluster(redis.cluster.clusterNodes) : new Redis(redis.standalone.url);
    try {
      expect(await client.hdel(`${prefix}{g}:global`, 'iss')).toBe(1);
    } finally {
      client.disconnect();
    }
    // Within the app's refresh of the global state (1 s), its instance declares them again.
    const provider = external('nell');
    await eventually(async () => expect((await cli(...base, 'revoke-user', 'nell', '--issuer', op.issuer, '--reason', 'after a flush')).code).toBe(EXIT.ok));
    expect((await me(demo, provider)).body.code).toBe('token_revoked');
    // A declaration of another shape (another version, a stray write) is read as none, and made again the same way.
    const writer = name === 'redis cluster' ? new Cluster(redis.cluster.clusterNodes) : new Redis(redis.standalone.url);
    try {
      await writer.hset(`${prefix}{g}:global`, 'iss', '{"external":42}');
    } finally {
      writer.disconnect();
    }
    const again = external('noor');
    await eventually(async () => expect((await cli(...base, 'revoke-user', 'noor', '--issuer', op.issuer, '--reason', 'after a stray write')).code).toBe(EXIT.ok));
    expect((await me(demo, again)).body.code).toBe('token_revoked');
  });

  it('revoke-token <jti> --sub <sub> --issuer <url> denylists a provider token under its user', async () => {
    const provider = external('lou');
    const other = external('lou');
    expect((await cli(...base, 'revoke-token', jtiOf(provider), '--issuer', op.issuer, '--reason', 'no sub')).code).toBe(EXIT.usage);
    expect((await cli(...base, 'revoke-token', jtiOf(provider), '--sub', 'lou', '--issuer', op.issuer, '--reason', 'leaked')).code).toBe(EXIT.ok);
    expect((await me(demo, provider)).body.code).toBe('token_revoked');
    expect((await me(demo, other)).status).toBe(200);
  });

  it('events, status and errors show a sub or reason holding terminal escapes as text: one line per event, nothing a terminal acts on', async () => {
    // What a token's sub and an admin's reason put in the event log (an external subject may hold anything).
    const sub = 'mallory\u001b]0;pwned\u0007\u001b[2J\n2099-01-01T00:00:00.000Z  user_revoked  admin  forged\u009b31m\u202e';
    const reason = 'why \u001b[31mred\u001b[0m\r\u2028\u0085';
    const store = new RedisDefenseStore({ connection: connectionFrom(url()), keyPrefix: prefix });
    try {
      await store.ready(5000);
      await store.appendEvent(createSecurityEvent('rate_limited', { sub, reason, ip: '203.0.113.9' }, await store.timeMs(), 0));
    } finally {
      await store.close();
    }

    const table = await cli(...base, 'events', '--since', '1h');
    const json = await cli(...base, 'events', '--since', '1h', '--format', 'json');
    const ndjson = await cli(...base, 'events', '--since', '1h', '--format', 'ndjson');
    const events = JSON.parse(json.out) as Array<{ sub?: string; reason?: string }>;
    // The raw values are kept for machines: the JSON parses back to them, with nothing a terminal would act on.
    expect(json.out.trimEnd()).not.toMatch(ACTIVE);
    expect(events.filter((event) => event.sub === sub && event.reason === reason)).toHaveLength(1);
    expect(lines(ndjson.out).map((line) => JSON.parse(line))).toEqual(events);
    const rows = lines(table.out);
    expect(rows).toHaveLength(events.length);
    expect(rows.filter((row) => row.includes('2099-01-01T00:00:00.000Z'))).toEqual([expect.stringContaining('mallory\\x1b]0;pwned')]);

    expect((await cli(...base, 'lockdown', 'deny-non-admin', '--reason', '\u001b[2Jlocked\u0085\nsigning kid    forged')).code).toBe(EXIT.ok);
    try {
      const status = await cli(...base, 'status');
      expect(lines(status.out)).toHaveLength(6);
      expect(status.out).toContain('\\x1b[2Jlocked\\x85\\x0asigning kid    forged');
    } finally {
      expect((await cli(...base, 'lockdown', 'off', '--reason', 'done')).code).toBe(EXIT.ok);
    }
    const usage = await cli(...base, 'events', '--\u001b[2Jbad');
    expect(usage.code).toBe(EXIT.usage);
    expect(usage.err.replace(/\n/g, '')).not.toMatch(ACTIVE);
    expect(usage.err).toContain('\\x1b[2Jbad');
  });
});

describe('jwt-defense CLI errors', () => {
  it('usage errors exit 2 and change nothing', async () => {
    for (const argv of [
      ['--redis', 'redis://127.0.0.1:1', 'nonsense'],
      ['--redis', 'redis://127.0.0.1:1', 'lockdown', 'panic', '--reason', 'x'],
      ['--redis', 'redis://127.0.0.1:1', 'revoke-user', 'alice'],
      ['--redis', 'redis://127.0.0.1:1', 'events', '--since', 'yesterday'],
      ['--redis', 'redis://127.0.0.1:1', 'retire-key', 'bad kid!', '--reason', 'x'],
      ['--redis', 'http://127.0.0.1:1', 'status'],
      ['status'],
    ]) {
      expect({ argv, code: (await cli(...argv)).code }).toEqual({ argv, code: EXIT.usage });
    }
    expect((await cli('--help')).code).toBe(EXIT.ok);
  });

  it('an unreachable Redis exits 3, without printing a password from the URL', async () => {
    const port = await freePort();
    const res = await cli('--redis', `redis://ops:hunter2-secret@127.0.0.1:${port}`, '--timeout-ms', '200', 'revoke-user', 'alice', '--reason', 'x');
    expect(res.code).toBe(EXIT.store);
    expect(res.err).toContain(`redis://127.0.0.1:${port}`);
    expect(res.err + res.out).not.toContain('hunter2');
  });

  it('`npm run defense` runs the built bin with the same exit codes', async () => {
    const run = (command: string, args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile(command, args, { cwd: join(__dirname, '..'), timeout: 120_000 }, (error, stdout) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout }),
        );
      });
    // Builds the library, then runs the bin (package.json "bin": libs/jwt-defense/dist/cli/main.js).
    const ok = await run('npm', ['run', '--silent', 'defense', '--', '--redis', redis.standalone.url, '--prefix', 'clibin:', '--json', 'lockdown', 'step-up', '--reason', 'bin test']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ mode: 'step-up', previous: 'off' });
    const bad = await run('node', ['libs/jwt-defense/dist/cli/main.js', '--redis', redis.standalone.url, 'lockdown', 'sideways', '--reason', 'x']);
    expect(bad.code).toBe(EXIT.usage);
  }, 150_000);
});
