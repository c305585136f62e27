import { userInfo } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createSecurityEvent, SECURITY_EVENT_TYPES, type SecurityEventType } from '../events/security-event.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { LOCKDOWN_MODES, type DeclaredIssuers, type LockdownMode } from '../store/defense-store.ports.js';
import { RedisDefenseStore } from '../store/redis/redis-defense.store.js';
import type { RedisConnection } from '../store/redis/redis-connection.js';
import { hasControlCharacter, namedUserIdentity, parseOwnJti, type UserIdentity } from '../token/token-ids.js';
import { KID_PATTERN } from '../jwt-defense.constants.js';
import { incidentEvents, LARGEST_REVOCATION_LIMITS, RevocationPolicy, type IncidentEvent } from '../revocation/revocation.policy.js';
import { printable, printableJson, printableLines, shown } from './printable.js';

/** Exit codes of `jwt-defense`: scripts can branch on them. */
export const EXIT = {
  ok: 0,
  /** Anything unexpected. */
  failure: 1,
  /** A bad command, option or value (nothing was changed). */
  usage: 2,
  /** Redis cannot be reached or does not answer (nothing was changed, or it is unknown: check with `status`). */
  store: 3,
  /** Refused as unsafe: retiring the key that signs new tokens (rotate first). */
  refused: 4,
} as const;

/** Where the CLI writes, and its environment (a test passes its own). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  now?: () => number;
}

/**
 * The app's revocation rules, for an app whose options the CLI does not know: with the largest limits the options
 * allow, an entry it writes may live longer than the app's own would, never shorter.
 */
const CLI_REVOCATION_POLICY = new RevocationPolicy(LARGEST_REVOCATION_LIMITS);

class CliFailure extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

interface GlobalOptions {
  redis?: string;
  prefix: string;
  actor?: string;
  timeoutMs: number;
  json?: boolean;
}

function duration(value: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(value);
  if (!match) throw new InvalidArgumentError('a duration like 30s, 15m, 1h or 7d');
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

function positiveInt(max: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1 || number > max) throw new InvalidArgumentError(`an integer from 1 to ${max}`);
    return number;
  };
}

function reasonText(value: string): string {
  if (value.trim().length === 0 || value.length > 256) throw new InvalidArgumentError('1-256 characters: why, for the event log');
  return value;
}

/** An issuer, exactly as its tokens' `iss` (no control characters, as `token.issuer` and `issuers[].issuer`). */
function issuerText(value: string): string {
  if (value.length === 0 || hasControlCharacter(value) || value.length > 2048) throw new InvalidArgumentError('the exact iss of the user\'s tokens: one of the app\'s issuers[]');
  return value;
}

const NEEDS_SUB = 'this jti is not provably one of ours: give its subject with --sub (and --issuer for an external issuer\'s token)';

/** A sub the CLI accepts: 1-255 characters (checked before Redis is reached). */
function checkSub(sub: string): void {
  if (sub.length === 0 || sub.length > 255) throw new CliFailure('a sub is 1-255 characters', EXIT.usage);
}

/** The app's issuers, for a message: its own (`token.issuer`) and the external ones (`issuers[].issuer`). */
function issuersText({ own, external }: DeclaredIssuers): string {
  const owns = own === undefined ? 'no own issuer' : shown`its own ${own} (token.issuer: a local user, as without --issuer)`;
  return `${owns}; external: ${external.length === 0 ? 'none' : external.map((iss) => printable(iss)).join(', ')} (issuers[])`;
}

/**
 * The external issuer `--issuer` names, or `undefined` for a local user (no `--issuer`, or the app's own
 * `token.issuer`). `declared`: the app's issuers, as its instances declare them in the store at boot
 * (`IncidentService`), since the CLI does not know the app's options. An issuer the app does not have is refused,
 * naming those it has: a revocation that reaches no token is never reported as done.
 */
function externalIssuer(issuer: string | undefined, declared: DeclaredIssuers | undefined, prefix: string): string | undefined {
  if (issuer === undefined) {
    // An app without token.keys (a provider-only API) has no local users: a bare sub would revoke nobody.
    if (declared && declared.own === undefined) throw new CliFailure('the app has no local users (no token.keys): name the user\'s issuer with --issuer: ' + issuersText(declared), EXIT.usage);
    return undefined;
  }
  if (!declared) {
    throw new CliFailure(
      shown`no app has declared its issuers under the prefix ${prefix} on this Redis (every instance does at boot), so --issuer ${issuer} cannot be checked: check --prefix (store.keyPrefix), or start an instance`,
      EXIT.usage,
    );
  }
  if (issuer === declared.own) return undefined;
  if (declared.external.includes(issuer)) return issuer;
  throw new CliFailure(shown`--issuer ${issuer} is not one of the app's issuers: ` + issuersText(declared), EXIT.usage);
}

/**
 * The identity of a user, as the app computes it (`namedUserIdentity`): the bare subject for a local user (this
 * module's own tokens: never with a control character), the issuer and the subject for an external issuer's.
 */
function userOf(sub: string, external: string | undefined): UserIdentity {
  checkSub(sub);
  const user = namedUserIdentity(sub, external, {});
  if (!user) throw new CliFailure('a local user\'s sub (this module\'s own tokens) has no control characters: for an external issuer\'s user, give --issuer', EXIT.usage);
  return user;
}

/** `redis://host:port`, or a comma-separated list of Cluster nodes (as the demo's REDIS_URL). */
export function connectionFrom(url: string): RedisConnection {
  const urls = url.split(',').map((part) => part.trim()).filter(Boolean);
  for (const part of urls) if (!/^rediss?:\/\/\S+$/.test(part)) throw new CliFailure('--redis must be redis://host:port (or a comma-separated list of Cluster nodes)', EXIT.usage);
  if (urls.length === 1) return urls[0];
  return { clusterNodes: urls.map((part) => ({ host: new URL(part).hostname, port: Number(new URL(part).port || 6379) })) };
}

/** Host and port only: a URL's password never reaches the terminal. */
function redacted(url: string): string {
  return url
    .split(',')
    .map((part) => {
      try {
        const parsed = new URL(part.trim());
        return `${parsed.protocol}//${parsed.host}`;
      } catch {
        return '(invalid url)';
      }
    })
    .join(',');
}

/**
 * `jwt-defense`: the incident commands for a bad day, when the app itself may be down. It talks to Redis directly
 * with the library's own store (`RedisDefenseStore`: the same keys and the same Lua scripts), so every running
 * instance applies what it does, as if an admin had called the app's incident API. Returns the exit code.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const now = io.now ?? Date.now;
  let exitCode: number = EXIT.ok;
  const program = new Command('jwt-defense')
    .description('Incident response for jwt-defense: talks to its Redis directly (same keys and scripts as the library).')
    .addOption(new Option('--redis <url>', 'redis://host:port, or Cluster nodes comma-separated (default: REDIS_URL)').default(io.env.REDIS_URL || undefined))
    .addOption(new Option('--prefix <prefix>', 'key prefix of the app, store.keyPrefix (default: REDIS_KEY_PREFIX, else jwtd:)').default(io.env.REDIS_KEY_PREFIX || 'jwtd:'))
    .option('--actor <name>', 'who acts, recorded with each action (default: cli:<os user>)')
    .addOption(new Option('--timeout-ms <ms>', 'bound of one Redis command').argParser(positiveInt(60_000)).default(2000))
    .option('--json', 'machine-readable output')
    .exitOverride()
    // Help and usage errors quote what was typed: escaped like every other output.
    .configureOutput({ writeOut: (text) => io.out(printableLines(text)), writeErr: (text) => io.err(printableLines(text)) })
    .showHelpAfterError();

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const actorOf = (): string => globals().actor ?? `cli:${safeUser()}`;
  // Build `human` with the `shown` tag: every datum in it is escaped (a sub or a reason may carry terminal escapes).
  const print = (human: string, machine: unknown) => io.out(globals().json ? `${printableJson(machine)}\n` : `${human}\n`);

  const withStore = async <T>(work: (store: RedisDefenseStore) => Promise<T>): Promise<T> => {
    const { redis, prefix, timeoutMs } = globals();
    if (!redis) throw new CliFailure('no Redis given: --redis redis://host:port or REDIS_URL', EXIT.usage);
    if (/[{}]/.test(prefix)) throw new CliFailure('--prefix must not contain { or }', EXIT.usage);
    const store = new RedisDefenseStore({ connection: connectionFrom(redis), keyPrefix: prefix, commandTimeoutMs: timeoutMs });
    try {
      await store.ready(timeoutMs * 3);
      return await work(store);
    } catch (error) {
      if (error instanceof DefenseStoreError) throw new CliFailure(shown`Redis at ${redacted(redis)} did not answer: ${error.message}`, EXIT.store);
      throw error;
    } finally {
      await store.close();
    }
  };

  // Dated by the store's clock (the time the command already read, else read now), like the app's own events of the
  // same incident: this machine's clock may be off.
  const record = async (store: RedisDefenseStore, [type, fields]: IncidentEvent, atMs?: number) => store.appendEvent(createSecurityEvent(type, fields, atMs ?? (await store.timeMs()), 0));

  program
    .command('revoke-user')
    .description('revoke every token and session of a user issued until now (O(1): the user\'s not-before epoch)')
    .argument('<sub>', 'the user (token sub): a local user, of this module\'s own tokens (token.issuer), unless --issuer names an external issuer')
    .option('--issuer <url>', 'for a user of an external issuer: its iss, one of the app\'s issuers[] (the app\'s own token.issuer is its local user; another is an error)', issuerText)
    .requiredOption('--reason <text>', 'why', reasonText)
    .addHelpText(
      'after',
      '\nUsers are (issuer, subject): `revoke-user m2m` revokes the local user m2m, never the user m2m of an external issuer\n' +
        '(`revoke-user m2m --issuer https://idp.example/`). The app\'s issuers are read from Redis, where every instance declares them at boot.',
    )
    .action(async (sub: string, { reason, issuer }: { reason: string; issuer?: string }) => {
      // A bad sub is refused before Redis is reached.
      if (issuer === undefined) userOf(sub, undefined);
      else checkSub(sub);
      await withStore(async (store) => {
        const declared = (await store.readGlobalState()).declaredIssuers;
        const external = externalIssuer(issuer, declared, globals().prefix);
        const user = userOf(sub, external);
        // The store's clock (Redis TIME), the one the app dates logins with: not this machine's (see EpochClock).
        const nowMs = await store.timeMs();
        const notBeforeMs = await store.raiseUserNotBefore(user.tag, user.subject, nowMs, CLI_REVOCATION_POLICY.userEpochTtlMs);
        await record(store, incidentEvents.userRevoked(sub, reason, { actor: actorOf(), iss: external }), nowMs);
        const before = new Date(notBeforeMs).toISOString();
        if (external !== undefined) {
          print(shown`revoked every token of ${sub} of ${external} issued at or before ${before}`, { sub, iss: external, local: false, revoked_before: before });
          return;
        }
        const own = declared?.own;
        const others = declared?.external.length ? shown`; a user of ${declared.external.join(', ')} is named with --issuer` : '';
        const whose = own === undefined ? 'this module' : shown`${own} (this module's own tokens)`;
        print(shown`revoked every token of ${sub}, a local user of ` + whose + shown`, issued at or before ${before}` + others, {
          sub,
          ...(own === undefined ? {} : { iss: own }),
          local: true,
          revoked_before: before,
        });
      });
    });

  program
    .command('revoke-token')
    .description('denylist one access token by its jti')
    .argument('<jti>', 'the token\'s jti')
    // A jti or kid is base64url and may start with "-": read as the argument, not as an unknown option.
    .allowUnknownOption()
    .option('--sub <sub>', 'the token\'s subject: required for a jti the library did not issue')
    .option('--issuer <url>', 'the token\'s issuer, for a token of an external issuer (with --sub): one of the app\'s issuers[]', issuerText)
    .requiredOption('--reason <text>', 'why', reasonText)
    .action(async (jti: string, { sub, issuer, reason }: { sub?: string; issuer?: string; reason: string }) => {
      if (jti.length === 0 || jti.length > 255) throw new CliFailure('a jti is 1-255 characters', EXIT.usage);
      const ownJti = parseOwnJti(jti);
      if (sub === undefined && issuer === undefined && !ownJti) throw new CliFailure(NEEDS_SUB, EXIT.usage);
      await withStore(async (store) => {
        // A jti provably ours needs no declaration: only an app with keys of its own issued it.
        const declared = issuer === undefined && ownJti && sub === undefined ? undefined : (await store.readGlobalState()).declaredIssuers;
        const external = externalIssuer(issuer, declared, globals().prefix);
        const own = external === undefined ? ownJti : undefined;
        if (sub === undefined && !own) throw new CliFailure(NEEDS_SUB, EXIT.usage);
        const tag = sub !== undefined ? userOf(sub, external).tag : own!.tag;
        const nowMs = now();
        const ttlMs = CLI_REVOCATION_POLICY.denylistTtlMs({ jti, external: external !== undefined }, nowMs);
        const added = await store.revokeToken(tag, { jti, reason, revokedAtMs: nowMs, actor: actorOf(), sub }, ttlMs);
        if (added) await record(store, incidentEvents.tokenRevoked(jti, sub, reason, { actor: actorOf(), iss: external }));
        print(added ? shown`revoked ${jti}` : shown`${jti} was already revoked`, { jti, revoked: true, already_revoked: !added });
      });
    });

  program
    .command('revoke-before')
    .description('revoke every token of everyone issued at or before a time (default now)')
    .option('--at <iso>', 'ISO 8601, not later than now (default: now)')
    .requiredOption('--reason <text>', 'why', reasonText)
    .action(async ({ at, reason }: { at?: string; reason: string }) => {
      const given = at === undefined ? undefined : Date.parse(at);
      if (given !== undefined && (!Number.isFinite(given) || !/^\d{4}-\d\d-\d\dT/.test(at!))) throw new CliFailure('--at must be an ISO 8601 time', EXIT.usage);
      await withStore(async (store) => {
        const nowMs = await store.timeMs(); // the store's clock, as for revoke-user
        if (given !== undefined && given > nowMs) throw new CliFailure('--at is in the future: a revocation applies to tokens already issued', EXIT.usage);
        const notBeforeMs = await store.raiseGlobalNotBefore(given ?? nowMs);
        await record(store, incidentEvents.globalRevoked(notBeforeMs, reason, actorOf()), nowMs);
        print(shown`every token issued at or before ${new Date(notBeforeMs).toISOString()} is revoked`, { revoked_before: new Date(notBeforeMs).toISOString() });
      });
    });

  program
    .command('retire-key')
    .description('refuse every token signed with a kid (the key that signs new tokens is refused: rotate first)')
    .argument('<kid>', 'the key id')
    .allowUnknownOption()
    .requiredOption('--reason <text>', 'why', reasonText)
    .action(async (kid: string, { reason }: { reason: string }) => {
      if (!KID_PATTERN.test(kid)) throw new CliFailure('a kid is 1-64 characters of [A-Za-z0-9._-]', EXIT.usage);
      await withStore(async (store) => {
        if (!(await store.retireKid(kid, now()))) {
          throw new CliFailure(shown`${kid} signs new tokens: rotate the signing key first (POST /admin/incident/rotate-key), then retire it`, EXIT.refused);
        }
        await record(store, incidentEvents.keyRetired(kid, reason, actorOf()));
        print(shown`retired ${kid}: its tokens are refused by every instance within its refresh interval`, { kid, retired: true });
      });
    });

  program
    .command('lockdown')
    .description('step-up: every token from before needs a new login; deny-non-admin: 403 lockdown except admins; off')
    .addArgument(new Command().createArgument('<mode>', 'the mode').choices(LOCKDOWN_MODES))
    .requiredOption('--reason <text>', 'why', reasonText)
    .action(async (mode: LockdownMode, { reason }: { reason: string }) => {
      await withStore(async (store) => {
        const previous = (await store.readGlobalState()).lockdown?.mode ?? 'off';
        const sinceMs = await store.timeMs(); // compared with logins' times: the store's clock, as for revoke-user
        await store.setLockdown({ mode, sinceMs, reason, actor: actorOf() });
        await record(store, incidentEvents.lockdownChanged(mode, previous, reason, actorOf()), sinceMs);
        print(shown`lockdown ${mode} since ${new Date(sinceMs).toISOString()} (was ${previous})`, { mode, previous, since: new Date(sinceMs).toISOString() });
      });
    });

  program
    .command('events')
    .description('the security event log, oldest first')
    .option('--since <duration>', 'only the last 30s, 15m, 1h, 7d...', duration)
    .addOption(new Option('--type <type>', 'one event type').choices(SECURITY_EVENT_TYPES))
    .option('--sub <sub>', 'one user')
    .addOption(new Option('--limit <n>', 'at most this many (the newest)').argParser(positiveInt(100_000)).default(1000))
    .addOption(new Option('--format <format>', 'output').choices(['ndjson', 'json', 'table']).default('table'))
    .action(async (options: { since?: number; type?: SecurityEventType; sub?: string; limit: number; format: 'ndjson' | 'json' | 'table' }) => {
      await withStore(async (store) => {
        const sinceMs = options.since === undefined ? undefined : now() - options.since;
        const events = (await store.listEvents({ type: options.type, sub: options.sub, limit: options.limit, ...(sinceMs === undefined ? {} : { sinceMs }) })).reverse();
        if (options.format === 'ndjson') io.out(events.map((event) => `${printableJson(event)}\n`).join(''));
        else if (options.format === 'json') io.out(`${printableJson(events)}\n`);
        // One line per event, whatever its sub and reason hold.
        else io.out(events.map((e) => [e.at, e.type, e.sub ?? '-', e.reason ?? ''].map(printable).join('  ')).join('\n') + (events.length ? '\n' : ''));
      });
    });

  program
    .command('status')
    .description('the global measures in force: revoke-before epoch, retired and rotated keys, lockdown')
    .action(async () => {
      await withStore(async (store) => {
        const started = performance.now();
        await store.ping();
        const pingMs = Math.round((performance.now() - started) * 10) / 10;
        const state = await store.readGlobalState();
        const keys = await store.listSigningKeys();
        const status = {
          redis: { ping_ms: pingMs, prefix: globals().prefix },
          revoked_before: state.notBeforeMs > 0 ? new Date(state.notBeforeMs).toISOString() : null,
          signing_kid: state.signingKid ?? state.declaredSigningKid ?? null,
          rotated_keys: keys.map((key) => ({ kid: key.kid, alg: key.algorithms[0], created: new Date(key.createdAtMs).toISOString() })),
          retired_kids: Object.fromEntries(Object.entries(state.retiredKids).map(([kid, at]) => [kid, new Date(at).toISOString()])),
          lockdown: state.lockdown ? { ...state.lockdown, since: new Date(state.lockdown.sinceMs).toISOString() } : { mode: 'off' as const, since: undefined },
        };
        const lockdown = state.lockdown && state.lockdown.mode !== 'off' ? shown` since ${status.lockdown.since ?? ''} (${state.lockdown.reason ?? ''})` : '';
        const lines = [
          shown`redis          answers in ${pingMs} ms (prefix ${status.redis.prefix})`,
          shown`lockdown       ${status.lockdown.mode}` + lockdown,
          shown`revoked before ${status.revoked_before ?? 'never'}`,
          shown`signing kid    ${status.signing_kid ?? 'unknown'}`,
          shown`rotated keys   ${keys.map((key) => key.kid).join(', ') || 'none'}`,
          shown`retired kids   ${Object.keys(state.retiredKids).join(', ') || 'none'}`,
        ];
        print(lines.join('\n'), status);
      });
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; every other parse error is a usage error.
      exitCode = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    } else if (error instanceof CliFailure) {
      // A CliFailure's message is built with `shown` or holds no datum; a Redis error's may quote anything.
      io.err(`jwt-defense: ${printableLines(error.message)}\n`);
      exitCode = error.code;
    } else {
      io.err(`jwt-defense: ${printable((error as Error)?.message ?? String(error))}\n`);
      exitCode = EXIT.failure;
    }
  }
  return exitCode;
}

function safeUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
