import { ConsoleLogger, ValidationPipe, type INestApplication, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { limitJsonDepth } from '@jwt-defense/core';
import { fastifyFrameworkErrors } from '@jwt-defense/core/fastify';
import { AppModule } from './app.module.js';
import type { DemoConfig } from './demo.config.js';

export interface CreateDemoAppOptions {
  logger?: false | LoggerService | LogLevel[];
  /** Overrides the library's default (for the benchmark's cache-off run). */
  verifiedTokenCacheSize?: number;
}

/** Builds (but does not start) the demo app on the adapter the config names. */
export async function createDemoApp(config: DemoConfig, options: CreateDemoAppOptions = {}): Promise<INestApplication> {
  const module = AppModule.forRoot(config, { verifiedTokenCacheSize: options.verifiedTokenCacheSize });
  // LOG_FORMAT=json: one JSON object per line (level, time, context, message), for a log pipeline.
  const logger = options.logger ?? (config.logFormat === 'json' ? new ConsoleLogger({ json: true, logLevels: ['log', 'warn', 'error'] }) : ['log', 'warn', 'error']);
  let app: INestApplication;
  if (config.adapter === 'fastify') {
    app = await NestFactory.create<NestFastifyApplication>(
      module,
      // Without TRUST_PROXY, X-Forwarded-For is ignored and request.ip is the socket address.
      new FastifyAdapter({
        trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
        // Malformed URLs and over-long path parameters, refused by Fastify's router itself.
        frameworkErrors: fastifyFrameworkErrors(),
      }),
      { logger },
    );
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, new ExpressAdapter(), { logger });
    express.set('trust proxy', config.trustProxy.length > 0 ? config.trustProxy : false);
    express.disable('x-powered-by');
    app = express;
  }
  // Deeply nested JSON is refused at parse time (400), before the ValidationPipe could overflow its stack.
  limitJsonDepth(app);
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.enableShutdownHooks();
  return app;
}
