// One benchmark server process: the variant, adapter and algorithm come from the environment.
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import helmet from 'helmet';
import { createDemoApp } from '../apps/demo/src/demo.app.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { BareModule, FloorModule, NoneModule, RecipeModule, type BenchKeyConfig, type UserPayload } from './variants.js';

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
  if (variant === 'defended') {
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
          : variant === 'floor'
            ? FloorModule.register(floorTokens(env.BENCH_TOKENS_FILE!))
            : NoneModule;
    if (adapter === 'fastify') {
      app = await NestFactory.create(module, new FastifyAdapter(), { logger: ['error'] });
    } else {
      const express = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(), { logger: ['error'] });
      if (variant === 'recipe') express.use(helmet());
      app = express;
    }
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  process.stdout.write(`LISTENING ${port}\n`);
  process.on('SIGTERM', () => {
    void app.close().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
