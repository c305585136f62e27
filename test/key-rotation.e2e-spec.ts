import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  IncidentService,
  JwtDefenseModule,
  SecurityEventService,
  TokenService,
  type JwtDefenseModuleOptions,
  type KeyRotation,
  type SecurityEvent,
} from '@jwt-defense/core';
import { DefenseStore, MemoryDefenseStore } from '@jwt-defense/core/store';
import { KeyRingFullException } from '../libs/jwt-defense/src/errors/defense.exceptions.js';
import { useRedisTopologies } from './support/redis-topologies.js';

// Finding I1 of issue #20: five concurrent rotate-key calls made five keys. Two instances (two modules, each with its
// own connection) on one store: concurrent calls, on one instance or on both, coalesce into one rotation; a call made
// after another answered makes a new key; the ring keeps incident.maxRotatedKeys rotated keys.

const redis = useRedisTopologies();
const BOOT_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
let suite = 0;
const prefix = () => `rot${suite++}-${randomBytes(3).toString('hex')}:`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type StoreOptions = JwtDefenseModuleOptions['store'];
const BACKENDS: Array<[string, () => StoreOptions]> = [
  // One memory store given to both modules: two instances in one process.
  ['memory', () => ({ type: 'custom', store: new MemoryDefenseStore() })],
  ['redis standalone', () => ({ type: 'redis', connection: redis.standalone.url, keyPrefix: prefix() })],
  ['redis cluster', () => ({ type: 'redis', connection: { clusterNodes: redis.cluster.clusterNodes }, keyPrefix: prefix() })],
];

interface Instance {
  incident: IncidentService;
  tokens: TokenService;
  store: DefenseStore;
  /** Events recorded on this instance since it started. */
  events: SecurityEvent[];
}

describe.each(BACKENDS)('signing-key rotation on %s, two instances', (_name, storeOptions) => {
  let modules: TestingModule[] = [];
  afterEach(async () => {
    await Promise.all(modules.map((moduleRef) => moduleRef.close()));
    modules = [];
  });

  /** Two instances on one store with one key-encryption key, as a deployment has them. */
  async function instances(overrides: Partial<JwtDefenseModuleOptions> = {}): Promise<[Instance, Instance]> {
    const store = storeOptions();
    const keyEncryptionKey = randomBytes(32);
    const start = async (): Promise<Instance> => {
      const options: JwtDefenseModuleOptions = {
        token: { issuer: 'rotation', audience: 'rotation-api', keys: [{ kid: 'boot', algorithms: ['ES256'], privateKey: BOOT_KEY }], ...overrides.token },
        store,
        revocation: { cleanupCron: false, globalStateRefreshMs: 100 },
        ...overrides,
        incident: { keyEncryptionKey, ...overrides.incident },
      };
      const moduleRef = await Test.createTestingModule({ imports: [JwtDefenseModule.forRoot(options)] }).compile();
      await moduleRef.init();
      modules.push(moduleRef);
      const events: SecurityEvent[] = [];
      moduleRef.get(SecurityEventService).events$.subscribe((event) => events.push(event));
      return { incident: moduleRef.get(IncidentService), tokens: moduleRef.get(TokenService), store: moduleRef.get<DefenseStore>(DefenseStore), events };
    };
    return [await start(), await start()];
  }

  const rotate = (instance: Instance, reason: string) => instance.incident.rotateKey({ reason, actor: 'admin' });
  const storedKids = async (instance: Instance) => (await instance.store.listSigningKeys()).map((key) => key.kid).sort();
  const rotations = (...all: Instance[]) => all.flatMap((instance) => instance.events).filter((event) => event.type === 'key_rotated');

  it('five concurrent calls on one instance make one key and answer its kid', async () => {
    const [a] = await instances();
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => rotate(a, `leak ${i}`)));
    const kid = answers[0].kid;
    expect(answers).toEqual(Array(5).fill({ kid, previousKid: 'boot', algorithm: 'ES256' }));
    await expect(storedKids(a)).resolves.toEqual([kid]);
    expect(a.tokens.signingKid).toBe(kid);
    expect(rotations(a)).toHaveLength(1);
  });

  it('concurrent calls on both instances coalesce into one rotation (a lock in the store); both sign with it at once', async () => {
    const [a, b] = await instances();
    const answers = await Promise.all([rotate(a, 'a1'), rotate(b, 'b1'), rotate(a, 'a2'), rotate(b, 'b2'), rotate(b, 'b3')]);
    const kids = new Set(answers.map((answer: KeyRotation) => answer.kid));
    expect(kids.size).toBe(1);
    const [kid] = kids;
    await expect(storedKids(a)).resolves.toEqual([kid]);
    expect([a.tokens.signingKid, b.tokens.signingKid]).toEqual([kid, kid]);
    expect(rotations(a, b)).toHaveLength(1);
    // Each instance signs with it and verifies the other's tokens.
    const fromB = await b.tokens.issue('alice');
    await expect(a.tokens.verify(fromB.token)).resolves.toMatchObject({ sub: 'alice' });
    expect(JSON.parse(Buffer.from(fromB.token.split('.')[0], 'base64url').toString()).kid).toBe(kid);
  });

  it('a call made after another answered always makes a new key, on either instance', async () => {
    const [a, b] = await instances();
    const first = await rotate(a, 'first leak');
    const second = await rotate(a, 'the rotation leaked too');
    const third = await rotate(b, 'again');
    expect(new Set([first.kid, second.kid, third.kid]).size).toBe(3);
    expect([first.previousKid, second.previousKid, third.previousKid]).toEqual(['boot', first.kid, second.kid]);
    await expect(storedKids(a)).resolves.toEqual([first.kid, second.kid, third.kid].sort());
    expect(b.tokens.signingKid).toBe(third.kid);
    expect(rotations(a, b)).toHaveLength(3);
  });

  it('keeps incident.maxRotatedKeys: the oldest retires once none of its tokens can be valid, else 409 key_ring_full', async () => {
    // Tokens live at most 1 s, 1 s of clock tolerance, a 100 ms refresh: a key's tokens are all dead 2.1 s after it
    // stopped signing (and one issued just now is valid for at least 1 s more).
    const [a, b] = await instances({
      token: { issuer: 'rotation', audience: 'rotation-api', keys: [{ kid: 'boot', algorithms: ['ES256'], privateKey: BOOT_KEY }], accessTokenTtlSec: 1, maxAccessTokenTtlSec: 1, clockToleranceSec: 1 },
      incident: { maxRotatedKeys: 2 },
    });
    const k1 = await rotate(a, 'k1');
    const signedByK1 = await a.tokens.issue('alice');
    const k2 = await rotate(a, 'k2');
    // k1 stopped signing just now: its token may still be valid, so it stays and the third rotation is refused, on
    // both instances (the calls that joined it get the same refusal), and nothing changes.
    const refused = await Promise.allSettled([rotate(a, 'k3'), rotate(b, 'k3 from b')]);
    for (const result of refused) {
      expect(result.status).toBe('rejected');
      const error = (result as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(KeyRingFullException);
      expect([error.getStatus(), error.code]).toEqual([409, 'key_ring_full']);
    }
    await expect(storedKids(a)).resolves.toEqual([k1.kid, k2.kid].sort());
    expect(a.tokens.signingKid).toBe(k2.kid);
    await expect(a.tokens.verify(signedByK1.token)).resolves.toMatchObject({ sub: 'alice' });
    expect(a.tokens.getJwks().keys.map((key) => key.kid)).toEqual(expect.arrayContaining([k1.kid, k2.kid]));

    await sleep(2300);
    const k3 = await rotate(b, 'k3');
    expect(k3.previousKid).toBe(k2.kid);
    await expect(storedKids(a)).resolves.toEqual([k2.kid, k3.kid].sort());
    expect(b.events.filter((event) => event.type === 'key_retired')).toEqual([
      expect.objectContaining({ reason: 'key_ring_cap', details: expect.objectContaining({ kid: k1.kid, rotation_kid: k3.kid, actor: 'admin' }) }),
    ]);
    expect(b.tokens.getJwks().keys.map((key) => key.kid)).not.toContain(k1.kid);
    expect(b.incident.status().keys.find((key) => key.kid === k1.kid)).toMatchObject({ published: false, retiredAt: expect.any(String) });
  });
});
