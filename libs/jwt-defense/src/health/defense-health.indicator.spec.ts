import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { JwtDefenseModule } from '../jwt-defense.module.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { DefenseStore } from '../store/defense-store.ports.js';
import { DefenseHealthIndicator } from './defense-health.indicator.js';

describe('DefenseHealthIndicator', () => {
  let moduleRef: TestingModule;
  const boot = async (failMode: 'open' | 'closed') => {
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot({
          token: { issuer: 'iss', audience: 'aud', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
          revocation: { cleanupCron: false, failMode },
        }),
      ],
    }).compile();
    await moduleRef.init();
    return moduleRef.get(DefenseHealthIndicator);
  };
  afterEach(() => moduleRef.close());

  it('is up when the store answers, in terminus\'s result shape', async () => {
    await expect((await boot('closed')).isHealthy('store')).resolves.toEqual({
      store: { status: 'up', store: 'memory', failMode: 'closed', latencyMs: expect.any(Number) },
    });
  });

  it('a store that does not answer is down when the check fails closed, degraded when it fails open', async () => {
    for (const [failMode, status] of [['closed', 'down'], ['open', 'degraded']] as const) {
      const indicator = await boot(failMode);
      jest.spyOn(moduleRef.get<DefenseStore>(DefenseStore), 'ping').mockRejectedValue(new DefenseStoreError('down'));
      await expect(indicator.isHealthy()).resolves.toEqual({ defense_store: { status, store: 'memory', failMode, reason: 'the store does not answer: down' } });
      await moduleRef.close();
    }
    moduleRef = await Test.createTestingModule({}).compile();
  });
});
