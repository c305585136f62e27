import type { IncomingMessage } from 'node:http';
import { DefenseClock } from '../common/defense-clock.js';
import { resolveOptions } from '../common/options.js';
import { DefenseStoreUnavailableException, RateLimitedException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import type { SecurityEvent } from '../events/security-event.js';
import { NOOP_METRICS_SINK } from '../pipeline/metrics-sink.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { StoreFailures } from '../pipeline/store-failure.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import { partResult, type DefenseCheckRequest } from '../store/check-part.js';
import { USER_RATE_PART } from './user-rate.check-part.js';
import { MemoryDefenseStore } from '../store/memory/memory-defense.store.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import type { RateLimitStore } from '../store/defense-store.ports.js';
import { ThrottleOptions } from './throttle.options.js';
import { ThrottleStage } from './throttle.stage.js';

const limit = (space: string, max: number) => ({ space, limit: max, ttlMs: 60_000, blockDurationMs: 30_000, algorithm: 'fixed' as const, insured: true });

const context = (route: Partial<RoutePolicy>, body?: unknown, ip = '198.51.100.1'): PipelineContext => ({
  route: { isPublic: true, name: 'T.r', template: '/r', failMode: 'closed', ip: false, user: false, routeId: 'r', ...route } as RoutePolicy,
  request: {} as IncomingMessage,
  httpRequest: { body },
  clientIp: ip,
  clientAddress: ip,
  startedMs: 0,
});

describe('ThrottleStage', () => {
  let store: MemoryDefenseStore;
  let stage: ThrottleStage;
  let events: SecurityEvent[];

  beforeEach(() => {
    const clock = new DefenseClock();
    store = new MemoryDefenseStore();
    const eventService = new SecurityEventService(store, clock);
    events = [];
    eventService.events$.subscribe((event) => events.push(event));
    stage = new ThrottleStage(store, new StoreFailures(eventService, NOOP_METRICS_SINK), eventService, clock, resolveOptions(ThrottleOptions, { headers: true }));
  });

  /** The stage's answer as a promise (it answers at once on the memory store, throwing its refusal). */
  const admit = (pipelineContext: PipelineContext) => Promise.resolve().then(() => stage.beforeAuth(pipelineContext));

  it('counts the body field trimmed and lower-cased, so spellings of one username share a counter', async () => {
    const route = { body: { ...limit('body', 2), field: 'username' } };
    await stage.beforeAuth(context(route, { username: 'Alice' }));
    await stage.beforeAuth(context(route, { username: '  alice ' }, '198.51.100.2'));
    await expect(admit(context(route, { username: 'ALICE' }, '198.51.100.3'))).rejects.toBeInstanceOf(RateLimitedException);
  });

  it("a body-field counter belongs to the client that made it: one client inventing usernames never pushes out another's", async () => {
    store = new MemoryDefenseStore({ maxCounters: 200, maxPerPrincipal: 20 });
    const eventService = new SecurityEventService(store, new DefenseClock());
    stage = new ThrottleStage(store, new StoreFailures(eventService, NOOP_METRICS_SINK), eventService, new DefenseClock(), resolveOptions(ThrottleOptions, {}));
    const route = { body: { ...limit('body', 3), field: 'username' } };
    for (let i = 0; i < 2; i++) await stage.beforeAuth(context(route, { username: 'alice' }, '198.51.100.7'));
    for (let i = 0; i < 1000; i++) await stage.beforeAuth(context(route, { username: `guess-${i}` }, '203.0.113.9'));
    expect(store.sizes['counters:body']).toBe(21);
    // alice's counter kept counting: her third attempt is the last one allowed.
    await stage.beforeAuth(context(route, { username: 'alice' }, '198.51.100.7'));
    await expect(admit(context(route, { username: 'alice' }, '198.51.100.7'))).rejects.toBeInstanceOf(RateLimitedException);
  });

  it('does not count a body without the field (nothing to key on)', async () => {
    const route = { body: { ...limit('body', 1), field: 'username' } };
    for (let i = 0; i < 3; i++) await stage.beforeAuth(context(route, {}));
    expect(store.sizes['counters:body']).toBeUndefined();
  });

  it('one 429 for every counter: Retry-After from the block, one sampled event per client', async () => {
    const route = { ip: limit('ip', 1) };
    await stage.beforeAuth(context(route));
    for (let i = 0; i < 3; i++) {
      const refused = await admit(context(route)).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RateLimitedException);
      expect((refused as RateLimitedException).retryAfterSec).toBe(30);
    }
    expect(events.filter((event) => event.type === 'rate_limited')).toEqual([
      expect.objectContaining({ ip: '198.51.100.1', details: expect.objectContaining({ layer: 'ip', limit: 1 }) }),
    ]);
  });

  it('adds the per-user limit to the one check request and decides from its answer', () => {
    const ctx = context({ user: limit('user', 1), isPublic: false });
    ctx.principal = { sub: 'alice' } as PipelineContext['principal'];
    const check: DefenseCheckRequest = { tag: 't', sub: 'alice', parts: {} };
    stage.prepare(ctx, check);
    expect(partResult(check.parts, USER_RATE_PART)).toMatchObject({ limit: 1, ttlMs: 60_000, blockDurationMs: 30_000, algorithm: 'fixed' });
    expect(() => stage.decide(ctx, { [USER_RATE_PART.name]: { totalHits: 2, timeToExpireMs: 1, blocked: true, timeToBlockExpireMs: 1500 } })).toThrow(RateLimitedException);
    expect(ctx.limits?.map((counted) => counted.name)).toEqual(['user']);
  });

  describe('throttle.allow', () => {
    const withAllow = (allow: string[], rateStore: MemoryDefenseStore = store) => {
      const clock = new DefenseClock();
      const eventService = new SecurityEventService(store, clock);
      return new ThrottleStage(rateStore, new StoreFailures(eventService, NOOP_METRICS_SINK), eventService, clock, resolveOptions(ThrottleOptions, { headers: true, allow }));
    };

    it('on a remote store, the per-IP count that would go with the ONE call is not asked for', () => {
      const remote = Object.create(store, { kind: { value: 'redis' } }) as MemoryDefenseStore;
      const route = { ip: limit('ip', 1), isPublic: false };
      const listed = context(route);
      const other = context(route, undefined, '203.0.113.1');
      const allowing = withAllow(['198.51.100.0/24'], remote);
      allowing.beforeAuth(listed);
      allowing.beforeAuth(other);
      expect([listed.ipOwed, other.ipOwed?.limit.limit]).toEqual([undefined, 1]);
      const check: DefenseCheckRequest = { tag: 't', sub: 'alice', parts: {} };
      allowing.prepare(listed, check);
      expect(check.parts).toEqual({});
      expect(allowing.countOwed(listed)).toBeUndefined();
    });

    it('an allow-listed client skips the per-IP and per-user limits (no count, no RateLimit fields), not the body-field limit', async () => {
      const allowing = withAllow(['198.51.100.0/24']);
      const route = { ip: limit('ip', 1), user: limit('user', 1), body: { ...limit('body', 2), field: 'username' }, isPublic: false };
      const first = context(route, { username: 'alice' });
      await allowing.beforeAuth(first);
      await allowing.beforeAuth(context(route, { username: 'alice' }));
      expect(first.ipOwed).toBeUndefined();
      expect(store.sizes['counters:ip']).toBeUndefined();
      const check: DefenseCheckRequest = { tag: 't', sub: 'alice', parts: {} };
      allowing.prepare(first, check);
      expect(check.parts).toEqual({});
      expect(first.limits).toBeUndefined();
      await expect(Promise.resolve().then(() => allowing.beforeAuth(context(route, { username: 'alice' })))).rejects.toBeInstanceOf(RateLimitedException);
    });

    it('a client not on the list is limited as before', async () => {
      const allowing = withAllow(['198.51.100.0/24']);
      const route = { ip: limit('ip', 1) };
      await allowing.beforeAuth(context(route, undefined, '203.0.113.1'));
      await expect(Promise.resolve().then(() => allowing.beforeAuth(context(route, undefined, '203.0.113.1')))).rejects.toBeInstanceOf(RateLimitedException);
    });

    it("matches the client's own IPv6 address, not its /64 group", async () => {
      const allowing = withAllow(['2001:db8::1']);
      const route = { ip: limit('ip', 1) };
      const from = (address: string) => ({ ...context(route, undefined, '2001:db8::/64'), clientAddress: address });
      for (let i = 0; i < 3; i++) await allowing.beforeAuth(from('2001:db8::1'));
      await allowing.beforeAuth(from('2001:db8::2'));
      await expect(Promise.resolve().then(() => allowing.beforeAuth(from('2001:db8::3')))).rejects.toBeInstanceOf(RateLimitedException);
    });

    it('without a list, the address is never looked at', () => {
      const ctx = context({ ip: limit('ip', 5) });
      Object.defineProperty(ctx, 'clientAddress', { get: () => { throw new Error('looked up'); } });
      expect(() => stage.beforeAuth(ctx)).not.toThrow();
    });
  });
});

describe('ThrottleStage with throttle.insurance, the store down', () => {
  let events: SecurityEvent[];
  const down = { kind: 'redis', hit: () => Promise.reject(new DefenseStoreError('Redis at 127.0.0.1:1 cannot be reached')) } as unknown as RateLimitStore;

  const stageWith = (throttle: Record<string, unknown>) => {
    const clock = new DefenseClock();
    const eventService = new SecurityEventService(new MemoryDefenseStore(), clock);
    events = [];
    eventService.events$.subscribe((event) => events.push(event));
    return new ThrottleStage(down, new StoreFailures(eventService, NOOP_METRICS_SINK), eventService, clock, resolveOptions(ThrottleOptions, throttle));
  };

  const outcome = (promise: void | Promise<void>) => Promise.resolve(promise).then(() => 'through', (error: unknown) => error);

  it('counts this instance its share, ceil(limit / instances), then 429 with Retry-After; each fallback a store_unavailable event', async () => {
    const stage = stageWith({ insurance: { instances: 2 } });
    const route = { ip: limit('ip', 5) };
    expect(await outcome(stage.beforeAuth(context(route)))).toBe('through');
    expect(await outcome(stage.beforeAuth(context(route)))).toBe('through');
    expect(await outcome(stage.beforeAuth(context(route)))).toBe('through');
    const refused = await outcome(stage.beforeAuth(context(route)));
    expect(refused).toBeInstanceOf(RateLimitedException);
    expect((refused as RateLimitedException).retryAfterSec).toBe(30);
    // Another client has its own share.
    expect(await outcome(stage.beforeAuth(context(route, undefined, '198.51.100.2')))).toBe('through');
    expect(events.filter((event) => event.type === 'store_unavailable')).toEqual([
      expect.objectContaining({ details: expect.objectContaining({ failMode: 'insurance', layer: 'throttle', reason: 'DefenseStoreError' }) }),
    ]);
  });

  it("a limit that opts out keeps its fail mode (a body limit's closed: 503)", async () => {
    const stage = stageWith({ insurance: { instances: 2 } });
    const route = { body: { ...limit('body', 4), field: 'username', insured: false } };
    expect(await outcome(stage.beforeAuth(context(route, { username: 'alice' })))).toBeInstanceOf(DefenseStoreUnavailableException);
  });

  it("insured body-field counters stay bounded per client: one client inventing usernames never pushes out another's", async () => {
    const stage = stageWith({ insurance: { instances: 2 } });
    const route = { body: { ...limit('body', 4), field: 'username' } };
    expect(await outcome(stage.beforeAuth(context(route, { username: 'alice' }, '198.51.100.7')))).toBe('through');
    for (let i = 0; i < 1500; i++) await outcome(stage.beforeAuth(context(route, { username: `guess-${i}` }, '203.0.113.9')));
    // alice's counter kept counting: her second attempt is the last of the share of 2.
    expect(await outcome(stage.beforeAuth(context(route, { username: 'alice' }, '198.51.100.7')))).toBe('through');
    expect(await outcome(stage.beforeAuth(context(route, { username: 'alice' }, '198.51.100.7')))).toBeInstanceOf(RateLimitedException);
  });

  it("the ONE call failed: the user limit insured is the one prepare() chose: none for an allow-listed client, a plan's own", () => {
    const stage = stageWith({ insurance: { instances: 1 } });
    const failure = new DefenseStoreError('down');
    const user = (chosen: PipelineContext['userLimit']) => {
      const ctx = context({ isPublic: false, failMode: 'open', user: limit('user', 100) });
      ctx.userLimit = chosen;
      ctx.identity = { tag: 't2', subject: 'bob' } as PipelineContext['identity'];
      return ctx;
    };
    for (let i = 0; i < 5; i++) expect(() => stage.failed(user(false), failure)).not.toThrow();
    const plan = { ...limit('user', 2), counter: 'plan-free00' };
    stage.failed(user(plan), failure);
    stage.failed(user(plan), failure);
    expect(() => stage.failed(user(plan), failure)).toThrow(RateLimitedException);
  });

  it('the ONE call failed: the per-user limit is counted in its share on a route failing open, refused by this layer; not counted on one failing closed', () => {
    const stage = stageWith({ insurance: { instances: 3 } });
    const failure = new DefenseStoreError('down');
    const user = (failMode: 'open' | 'closed') => {
      const ctx = context({ isPublic: false, failMode, user: limit('user', 5) });
      ctx.userLimit = ctx.route.user; // as prepare() chose it
      ctx.identity = { tag: 't1', subject: 'alice' } as PipelineContext['identity'];
      ctx.layer = 'store';
      return ctx;
    };
    stage.failed(user('open'), failure);
    stage.failed(user('open'), failure);
    const third = user('open');
    expect(() => stage.failed(third, failure)).toThrow(RateLimitedException);
    expect(third.layer).toBe('throttle');
    for (let i = 0; i < 3; i++) expect(() => stage.failed(user('closed'), failure)).not.toThrow();
  });
});
