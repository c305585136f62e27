import { randomBytes } from 'node:crypto';

/** One line of the game day's timeline. */
export interface TimelineEntry {
  /** Milliseconds since the scenario started. */
  tMs: number;
  phase: Phase;
  actor: 'alice' | 'attacker' | 'responder';
  action: string;
  outcome: string;
}

/** One expectation of the rehearsal, checked as it runs. */
export interface Check {
  phase: Phase;
  what: string;
  ok: boolean;
  detail?: string;
}

export type Phase = 'normal use' | 'attack' | 'detect' | 'contain' | 'eradicate' | 'recover';

export interface SecurityEventLike {
  id: string;
  type: string;
  at: string;
  sub?: string;
  jti?: string;
  ip?: string;
  reason?: string;
  details?: Record<string, string | number | boolean>;
}

export interface GamedayResult {
  startedAt: string;
  finishedAt: string;
  target: string;
  timeline: TimelineEntry[];
  checks: Check[];
  events: SecurityEventLike[];
  /** Milestones, ms since the start: when the attack began, the first alert, containment, eradication, recovery. */
  milestones: Partial<Record<'attack' | 'detected' | 'contained' | 'eradicated' | 'recovered', number>>;
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { code?: string };
}

/**
 * The demo's environment for the game day: this script is the trusted edge (its CF-IPCountry header is believed), risk
 * and anomaly run in `monitor` (no warm-up, an alert from 20 requests), and instances would share rotated keys.
 */
export function gamedayDemoEnv(adapter: string, redisUrl?: string): Record<string, string> {
  return {
    HTTP_ADAPTER: adapter,
    PORT: '0',
    TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128',
    RISK_MODE: 'monitor',
    ANOMALY_MODE: 'monitor',
    ANOMALY_WARMUP_INTERVALS: '0',
    ANOMALY_MIN_REQUESTS: '20',
    THROTTLE_LIMIT: '10000',
    LOGIN_LIMIT: '100',
    JWT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `gameday${Date.now()}:` } : {}),
  };
}

const ALICE_HOME = { 'cf-ipcountry': 'FR', 'x-device-id': 'alice-laptop', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' };
const ATTACKER = { 'cf-ipcountry': 'BR', 'x-device-id': 'vps-7731', 'user-agent': 'python-requests/2.32' };

/**
 * The stolen-token incident, scripted against a demo at `base` (started with TRUST_PROXY covering this client, so its
 * CF-IPCountry header is believed, and with risk and anomaly in monitor mode, as a team that has just turned them
 * on would run): alice works from France; her access and refresh tokens leak; an attacker replays them from Brazil
 * and scrapes in a burst; the responder detects it from the events, contains with revoke-all, eradicates by rotating
 * the signing key and retiring the old one, and alice recovers with a new login.
 */
export async function runStolenTokenScenario(base: string, burst = 30): Promise<GamedayResult> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const timeline: TimelineEntry[] = [];
  const checks: Check[] = [];
  const milestones: GamedayResult['milestones'] = {};
  const t = () => Date.now() - started;
  const log = (phase: Phase, actor: TimelineEntry['actor'], action: string, outcome: string) => timeline.push({ tMs: t(), phase, actor, action, outcome });
  const check = (phase: Phase, what: string, ok: boolean, detail?: string) => checks.push({ phase, what, ok, ...(detail ? { detail } : {}) });
  const outcome = (answer: Answer) => `${answer.status}${answer.body?.code ? ` ${answer.body.code}` : ''}`;

  const call = async (method: string, path: string, options: { token?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> => {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    const text = await res.text();
    let body: Answer['body'] = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  };
  const loginAs = (username: string, headers: Record<string, string> = {}) => call('POST', '/auth/login', { headers, body: { username, password: `${username}-password` } });
  const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid as string;

  // ---- normal use
  const session = await loginAs('alice', ALICE_HOME);
  check('normal use', 'alice logs in from France', session.status === 200, outcome(session));
  log('normal use', 'alice', 'POST /auth/login from FR, her laptop', outcome(session));
  const stolenAccess = String(session.body.access_token);
  const stolenRefresh = String(session.body.refresh_token);
  await new Promise((resolve) => setTimeout(resolve, 150)); // the login's context is learned in the background
  for (let i = 0; i < 3; i++) {
    const res = await call('GET', '/me', { token: stolenAccess, headers: ALICE_HOME });
    if (i === 2) log('normal use', 'alice', 'GET /me ×3 from FR', outcome(res));
  }

  // ---- attack: the tokens leak (a malicious browser extension); replayed from another country, then a burst
  milestones.attack = t();
  const replay = await call('GET', '/me', { token: stolenAccess, headers: ATTACKER });
  log('attack', 'attacker', 'replays alice\'s access token from BR, unknown device', outcome(replay));
  check('attack', 'monitor mode lets the replay through (the layers are being tuned)', replay.status === 200, outcome(replay));
  let burstOk = 0;
  for (let i = 0; i < burst; i++) if ((await call('GET', '/me', { token: stolenAccess, headers: ATTACKER })).status === 200) burstOk++;
  log('attack', 'attacker', `burst of ${burst} GET /me`, `${burstOk} × 200`);

  // ---- detect: the responder watches the event log (or the SIEM it is forwarded to)
  let adminToken = String((await loginAs('admin')).body.access_token);
  const wanted = ['risk_denied', 'anomaly_detected'];
  let alerts: SecurityEventLike[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const res = await call('GET', `/admin/security-events?sub=alice&since=${encodeURIComponent(startedAt)}&limit=100`, { token: adminToken });
    alerts = ((res.body.events ?? []) as SecurityEventLike[]).filter((event) => wanted.includes(event.type));
    if (wanted.every((type) => alerts.some((event) => event.type === type))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const first = alerts.map((event) => Date.parse(event.at)).sort((a, b) => a - b)[0];
  if (first !== undefined) milestones.detected = first - started;
  for (const type of wanted) {
    const event = alerts.find((candidate) => candidate.type === type);
    check('detect', `${type} is recorded for alice`, event !== undefined, event ? `${event.reason ?? ''}` : 'missing');
    if (event) log('detect', 'responder', `sees ${type}`, event.reason ?? '');
  }

  // ---- contain: revoke every token and session of alice
  const contain = await call('POST', '/admin/users/alice/revoke-all', { token: adminToken, body: { reason: 'game day: stolen token replayed from BR' } });
  milestones.contained = t();
  log('contain', 'responder', 'POST /admin/users/alice/revoke-all', outcome(contain));
  const afterContain = await call('GET', '/me', { token: stolenAccess, headers: ATTACKER });
  log('contain', 'attacker', 'replays the stolen access token', outcome(afterContain));
  check('contain', 'the stolen access token is refused (401 token_revoked)', afterContain.status === 401 && afterContain.body.code === 'token_revoked', outcome(afterContain));
  const stolenRefreshUse = await call('POST', '/auth/refresh', { headers: ATTACKER, body: { refresh_token: stolenRefresh } });
  log('contain', 'attacker', 'tries the stolen refresh token', outcome(stolenRefreshUse));
  check('contain', 'the stolen refresh token is refused', stolenRefreshUse.status === 401, outcome(stolenRefreshUse));

  // ---- eradicate: the signing key may have leaked with the laptop image: rotate, then retire the old one
  const oldKid = kidOf(stolenAccess);
  const rotate = await call('POST', '/admin/incident/rotate-key', { token: adminToken, body: { reason: 'game day: rotate after the leak' } });
  const newKid = String(rotate.body.kid ?? '');
  log('eradicate', 'responder', 'POST /admin/incident/rotate-key', `${outcome(rotate)} new kid ${newKid}`);
  check('eradicate', 'a new key signs', rotate.status === 200 && newKid !== '' && newKid !== oldKid, outcome(rotate));
  const jwks = await call('GET', '/.well-known/jwks.json');
  const kids = ((jwks.body.keys ?? []) as Array<{ kid: string }>).map((key) => key.kid);
  check('eradicate', 'the JWKS publishes both keys until the old one is retired', kids.includes(oldKid) && kids.includes(newKid), kids.join(', '));
  const refusedRetire = await call('POST', `/admin/incident/retire-key/${newKid}`, { token: adminToken, body: { reason: 'game day: wrong key' } });
  log('eradicate', 'responder', 'tries to retire the new signing key', outcome(refusedRetire));
  check('eradicate', 'retiring the signing key is refused (409)', refusedRetire.status === 409 && refusedRetire.body.code === 'signing_key_active', outcome(refusedRetire));
  const retire = await call('POST', `/admin/incident/retire-key/${oldKid}`, { token: adminToken, body: { reason: 'game day: retire the leaked key' } });
  milestones.eradicated = t();
  log('eradicate', 'responder', 'POST /admin/incident/retire-key/<old kid>', outcome(retire));
  check('eradicate', 'the old key is retired', retire.status === 200, outcome(retire));
  const oldAdmin = await call('GET', '/me', { token: adminToken });
  check('eradicate', 'tokens signed with the old key are refused, the responder\'s own included', oldAdmin.status === 401 && oldAdmin.body.code === 'token_revoked', outcome(oldAdmin));
  const jwksAfter = ((await call('GET', '/.well-known/jwks.json')).body.keys ?? []) as Array<{ kid: string }>;
  check('eradicate', 'the JWKS no longer publishes the old key', jwksAfter.every((key) => key.kid !== oldKid), jwksAfter.map((key) => key.kid).join(', '));

  // ---- recover: alice signs in again from home; the responder confirms and exports the events
  const back = await loginAs('alice', ALICE_HOME);
  const fresh = String(back.body.access_token ?? '');
  const meAgain = await call('GET', '/me', { token: fresh, headers: ALICE_HOME });
  milestones.recovered = t();
  log('recover', 'alice', 'logs in again from FR, GET /me', outcome(meAgain));
  check('recover', 'alice works again, with a token of the new key', meAgain.status === 200 && kidOf(fresh) === newKid, outcome(meAgain));
  const attackerAgain = await call('GET', '/me', { token: stolenAccess, headers: ATTACKER });
  check('recover', 'the stolen token stays refused', attackerAgain.status === 401, outcome(attackerAgain));
  adminToken = String((await loginAs('admin')).body.access_token);
  const events = (await call('GET', `/admin/security-events?since=${encodeURIComponent(startedAt)}&limit=1000`, { token: adminToken })).body.events as SecurityEventLike[];
  log('recover', 'responder', 'exports the events for the post-mortem', `${events.length} events`);
  for (const type of ['user_revoked', 'key_rotated', 'key_retired']) {
    check('recover', `the log records ${type} with the responder as actor`, events.some((event) => event.type === type && event.details?.actor === 'admin'));
  }
  return { startedAt, finishedAt: new Date().toISOString(), target: base, timeline, checks, events: [...events].reverse(), milestones };
}
