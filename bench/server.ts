// One benchmark server process: the variant, adapter and algorithm come from the environment.
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createPublicKey } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import helmet from 'helmet';
import { createDemoApp } from '../apps/demo/src/demo.app.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { Registry } from 'prom-client';
import { PrometheusDefenseMetrics } from '@jwt-defense/core/prometheus';
import { loadDemoKeys } from '../apps/demo/src/demo.keys.js';
import { BareModule, DefendedModule, FloorModule, LIMIT_HEADERS, NoneModule, RecipeModule, type BenchKeyConfig, type UserPayload } from './variants.js';

export const BENCH_ISSUER = 'jwt-defense-demo';
const LIMIT = 1_000_000_000; // rate limits on, never reached: we measure their cost, not their effect

/** The bench's token pool, already "verified": what the floor guard looks tokens up in. */
function floorTokens(file: string): Map<string, UserPayload> {
  const tokens = new Map<string, UserPayload>();
  for (const token of JSON.parse(readFileSync(file, 'utf8')) as string[]) {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as UserPayload;
    tokens.set(token, { sub: claims.sub, roles: claims.roles, jti: claims.jti, exp: claims.exp });
  }
  return tokens;
}

async function main(): Promise<void> {
  const env = process.env;
  const variant = env.BENCH_VARIANT ?? 'none';
  const adapter = env.BENCH_ADAPTER === 'fastify' ? 'fastify' : 'express';
  const algorithm = env.BENCH_ALG === 'HS256' ? 'HS256' : 'ES256';
  const keyConfig: BenchKeyConfig = {
    algorithm,
    verifyKey:
      algorithm === 'HS256'
        ? env.BENCH_SECRET!
        : createPublicKey(readFileSync(env.BENCH_KEY_FILE!)).export({ format: 'pem', type: 'spki' }).toString(),
    issuer: BENCH_ISSUER,
    audience: BENCH_ISSUER,
  };
  let app: INestApplication;
  const demoConfig = (extra: Record<string, string | undefined> = {}) =>
    loadDemoConfig({
      HTTP_ADAPTER: adapter,
      JWT_ALGORITHM: algorithm,
      JWT_SECRET: algorithm === 'HS256' ? env.BENCH_SECRET : undefined,
      JWT_PRIVATE_KEY_FILE: algorithm === 'ES256' ? env.BENCH_KEY_FILE : undefined,
      ...extra,
    });
  if (variant === 'defended') {
    // The module on the limit app's route: every layer on (enforce), its Prometheus sink; limits never reached.
    const config = demoConfig();
    const limit = { limit: LIMIT, ttlMs: 60_000 };
    const layers = env.BENCH_RISK_ANOMALY === 'off' ? 'off' : 'enforce';
    const module = DefendedModule.register({
      token: { issuer: BENCH_ISSUER, audience: BENCH_ISSUER, keys: loadDemoKeys(config), verifiedTokenCacheSize: env.BENCH_CACHE === 'off' ? 0 : undefined },
      // The memory store remembers each DPoP proof for its window (60 s): its default 100000 proofs hold ~1600 proofs/s
      // sustained, less than a Fastify server verifies; above, new proofs are refused (503), as documented.
      store: env.BENCH_REDIS_URL ? { type: 'redis', connection: env.BENCH_REDIS_URL, keyPrefix: `bench${process.pid}:` } : { type: 'memory', maxDpopProofs: 1_000_000 },
      throttle: { ip: limit, user: limit },
      risk: { mode: layers },
      anomaly: { mode: layers },
      metrics: new PrometheusDefenseMetrics({ registry: new Registry() }),
    });
    app = await NestFactory.create(module, adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: ['error'] });
  } else if (variant === 'demo') {
    const config = loadDemoConfig({
      HTTP_ADAPTER: adapter,
      JWT_ALGORITHM: algorithm,
      JWT_SECRET: algorithm === 'HS256' ? env.BENCH_SECRET : undefined,
      JWT_PRIVATE_KEY_FILE: algorithm === 'ES256' ? env.BENCH_KEY_FILE : undefined,
      REDIS_URL: env.BENCH_REDIS_URL,
      REDIS_KEY_PREFIX: `bench${process.pid}:`,
      THROTTLE_LIMIT: String(LIMIT),
      ...(env.BENCH_RISK_ANOMALY === 'off' ? { RISK_MODE: 'off', ANOMALY_MODE: 'off' } : {}),
    });
    app = await createDemoApp(config, { logger: ['error'], verifiedTokenCacheSize: env.BENCH_CACHE === 'off' ? 0 : undefined });
  } else {
    const module =
      variant === 'bare'
        ? BareModule.register(keyConfig)
        : variant === 'recipe'
          ? RecipeModule.register(keyConfig, env.BENCH_REDIS_URL!, LIMIT)
          : variant === 'floor' || variant === 'limit'
            ? FloorModule.register(floorTokens(env.BENCH_TOKENS_FILE!))
            : NoneModule;
    if (adapter === 'fastify') {
      app = await NestFactory.create(module, new FastifyAdapter(), { logger: ['error'] });
      if (variant === 'limit') {
        const headers = { ...LIMIT_HEADERS };
        const fastify = (app.getHttpAdapter() as FastifyAdapter).getInstance();
        fastify.addHook('onRequest', (_request, reply, done) => {
          reply.headers(headers);
          done();
        });
      }
    } else {
      const express = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(), { logger: ['error'] });
      if (variant === 'recipe') express.use(helmet());
      if (variant === 'limit') {
        const headers = Object.entries(LIMIT_HEADERS);
        express.use((_request: unknown, response: { setHeader(name: string, value: string): void }, next: () => void) => {
          for (const [name, value] of headers) response.setHeader(name, value);
          next();
        });
      }
      app = express;
    }
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.stdout.write(`LISTENING ${port}\n`);
  // `--profile`: the CPU profile of the measured load only (SIGUSR2 starts it after the warm-up; SIGTERM writes it), so
  // that start-up and cold code are not counted per request.
  const profileFile = env.BENCH_PROFILE_FILE;
  const profiler = profileFile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    process.on('SIGUSR2', () => {
      profiler.post('Profiler.enable', () => profiler.post('Profiler.setSamplingInterval', { interval: 100 }, () => profiler.post('Profiler.start')));
    });
  }
  process.on('SIGTERM', () => {
    const close = () => void app.close().then(() => process.exit(0));
    if (!profiler) return close();
    profiler.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(profileFile!, JSON.stringify(result.profile));
      close();
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
