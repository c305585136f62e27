import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createDemoApp } from '../../apps/demo/src/demo.app.js';
import { loadDemoConfig, type HttpAdapterName } from '../../apps/demo/src/demo.config.js';

export const ADAPTERS: HttpAdapterName[] = ['express', 'fastify'];

export interface DemoHandle {
  app: INestApplication;
  /** The Node server, for supertest. */
  server: import('node:http').Server;
  privateKey: KeyObject;
  publicKey: KeyObject;
  close(): Promise<void>;
}

/**
 * An ES256 key pair written to PEM files, so a test can forge tokens with the demo's own key; and a key-encryption
 * key, so instances given the same keys also share rotated signing keys.
 */
export function writeEs256KeyFiles(): { privateKey: KeyObject; publicKey: KeyObject; privateKeyFile: string; keyEncryptionKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dir = mkdtempSync(join(tmpdir(), 'jwt-defense-keys-'));
  const privateKeyFile = join(dir, 'private.pem');
  writeFileSync(privateKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return { privateKey, publicKey, privateKeyFile, keyEncryptionKey: randomBytes(32).toString('base64') };
}

export type DemoKeys = ReturnType<typeof writeEs256KeyFiles>;

/**
 * Starts the real demo app (not listening; supertest binds it) on one adapter, with env overrides. Pass the
 * same `keys` to several instances so they verify each other's tokens.
 */
export async function startDemo(adapter: HttpAdapterName, env: Record<string, string> = {}, keys: DemoKeys = writeEs256KeyFiles()): Promise<DemoHandle> {
  const config = loadDemoConfig({ JWT_PRIVATE_KEY_FILE: keys.privateKeyFile, JWT_KEY_ENCRYPTION_KEY: keys.keyEncryptionKey, ...env, HTTP_ADAPTER: adapter });
  const app = await createDemoApp(config, { logger: false });
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return {
    app,
    server: app.getHttpServer(),
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    close: () => app.close(),
  };
}
