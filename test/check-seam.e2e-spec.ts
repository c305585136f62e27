import { execFileSync } from 'node:child_process';
import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { JwtDefenseModule, RevocationService, TokenService } from '@jwt-defense/core';
import { RequestCheckStore } from '@jwt-defense/core/store';
import { RateLimitedException } from '../libs/jwt-defense/src/errors/defense.exceptions.js';
import { BUILT_IN_CHECK_PARTS, CHECK_PARTS } from '../libs/jwt-defense/src/pipeline/check-parts.js';
import { BUILT_IN_CHECK_STAGES, CHECK_STAGES } from '../libs/jwt-defense/src/pipeline/check-stages.js';
import type { CheckStage } from '../libs/jwt-defense/src/pipeline/check-stage.js';
import type { PipelineContext } from '../libs/jwt-defense/src/pipeline/pipeline-context.js';
import { askPart, partResult, type CheckPart, type DefenseCheckRequest, type DefenseCheckResult } from '../libs/jwt-defense/src/store/check-part.js';
import { integer, replyOf } from '../libs/jwt-defense/src/store/reply.js';
import { userTag } from '../libs/jwt-defense/src/token/token-ids.js';
import { fixtureOptions } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS } from './support/demo-app.js';
import { RedisServer } from './support/redis-server.js';

// The seam of the ONE store call (issue 21): a toy layer, declared here and registered by overriding the two
// registration providers, with its state in the same call as every built-in layer's, on memory and on Redis. Nothing
// in store/ or pipeline/ knows it.

/** The toy layer's part: a per-user count of allowed requests (counted like a limit: never for a refused request). */
const TOY_PART: CheckPart<{ max: number }, { count: number }> = {
  name: 'toy',
  keyCount: 1,
  keys: (_input, { sub }, key) => [key('toy', sub)],
  args: (input) => [input.max],
  lua: {
    count: `
S.count = redis.call('INCR', K[1])
redis.call('PEXPIRE', K[1], 60000)
if S.count > tonumber(A[1]) then F.blocked = true end`,
    reply: '{S.count or 0}',
  },
  parse: (reply) => ({ count: integer(replyOf(reply, 1, 'check: toy')[0], 'check: toy') }),
  memory: {
    count({ input, scope, flow, spaces, state }) {
      const counts = spaces.lru<number>('toy');
      const user = `${scope.tag}:${scope.sub}`;
      const count = (counts.get(user, scope.nowMs) ?? 0) + 1;
      counts.set(user, count, scope.nowMs, 60_000);
      state.count = count;
      if (count > input.max) flow.blocked = true;
    },
    result: ({ state }) => ({ count: (state.count as number | undefined) ?? 0 }),
  },
};

/** The toy layer's stage: asks for its part, refuses beyond three requests. */
class ToyStage implements CheckStage {
  readonly layer = 'throttle' as const;
  prepare(_context: PipelineContext, check: DefenseCheckRequest): void {
    askPart(check, TOY_PART, { max: 3 });
  }

  decide(_context: PipelineContext, result: DefenseCheckResult): void {
    if (partResult(result, TOY_PART)!.count > 3) throw new RateLimitedException(60);
  }
}

const evalshaCalls = (port: number): number => {
  const info = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats']).toString();
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(info)?.[1] ?? 0);
};

describe.each(ADAPTERS)('a toy layer through the check seam over %s', (adapter) => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.destroy());

  async function start(store: 'memory' | 'redis'): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot(
          fixtureOptions({
            revocation: { cleanupCron: false },
            store: store === 'redis' ? { type: 'redis', connection: redis.url, keyPrefix: `toy-${adapter}:` } : { type: 'memory' },
          }),
        ),
      ],
      controllers: [WhoamiController],
    })
      .overrideProvider(CHECK_PARTS)
      .useValue([...BUILT_IN_CHECK_PARTS, TOY_PART])
      .overrideProvider(CHECK_STAGES)
      .useFactory({ factory: (...stages: CheckStage[]) => [...stages, new ToyStage()], inject: [...BUILT_IN_CHECK_STAGES] })
      .compile();
    const app = moduleRef.createNestApplication(adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: ['error'] });
    await app.init();
    if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    return app;
  }

  it.each(['memory', 'redis'] as const)('on the %s store: its state rides in the same ONE call as every built-in layer, and it decides', async (store) => {
    const app = await start(store);
    try {
      const token = (await app.get(TokenService).issue('toy-user', { roles: ['user'] })).token;
      const checks: Array<{ check: DefenseCheckRequest; result: DefenseCheckResult }> = [];
      const port = app.get<RequestCheckStore>(RequestCheckStore);
      const original = port.check.bind(port);
      port.check = async (check) => {
        const result = await original(check);
        checks.push({ check, result });
        return result;
      };
      const before = store === 'redis' ? evalshaCalls(redis.port) : 0;
      const me = () => request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await me()).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      // One call per request, carrying the built-in parts and the toy's, and the toy's count in its answer.
      // (On a remote store the per-IP count rides in it too.)
      const parts = store === 'redis' ? ['ipRate', 'revocation', 'toy', 'userRate'] : ['revocation', 'toy', 'userRate'];
      expect(checks.map(({ check }) => Object.keys(check.parts).sort())).toEqual(Array(5).fill(parts));
      expect(checks.map(({ result }) => partResult(result, TOY_PART)!.count)).toEqual([1, 2, 3, 4, 5]);
      if (store === 'redis') {
        // One script per request, as before the toy: the ONE check (the toy added none).
        expect(evalshaCalls(redis.port) - before).toBe(5);
        const key = `toy-${adapter}:{u:${userTag('toy-user')}}:toy:toy-user`;
        expect(execFileSync('redis-cli', ['-p', String(redis.port), 'GET', key]).toString().trim()).toBe('5');
      }
      // A revoked token is refused in the check phase: the toy's count phase never runs for it.
      await app.get(RevocationService).revokeAllForUser('toy-user', 'seam test');
      expect((await me()).status).toBe(401);
      expect(partResult(checks[checks.length - 1].result, TOY_PART)).toEqual({ count: 0 });
    } finally {
      await app.close();
    }
  });
});
