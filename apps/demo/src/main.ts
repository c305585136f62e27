import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { loadDemoConfig } from './demo.config.js';
import { createDemoApp } from './demo.app.js';

async function bootstrap(): Promise<void> {
  const config = loadDemoConfig();
  const app = await createDemoApp(config);
  await app.listen(config.port, '0.0.0.0');
  const address = app.getHttpServer().address() as AddressInfo;
  Logger.log(`jwt-defense demo (${config.adapter}, ${config.algorithm}) listening on port ${address.port}`, 'Demo');
}

bootstrap().catch((error: unknown) => {
  Logger.error(error instanceof Error ? error.message : String(error), 'Demo');
  process.exit(1);
});
