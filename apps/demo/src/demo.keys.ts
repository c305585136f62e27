import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import type { JwtKeyOptions } from '@jwt-defense/core';
import type { DemoConfig } from './demo.config.js';

const logger = new Logger('DemoKeys');

/** RFC 7638 JWK thumbprint: a stable kid derived from the public key itself. */
function thumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const required: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const members = required[jwk.kty].map((name) => `"${name}":"${jwk[name]}"`).join(',');
  return createHash('sha256').update(`{${members}}`).digest('base64url');
}

function generate(algorithm: DemoConfig['algorithm']): KeyObject {
  if (algorithm === 'RS256') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  if (algorithm === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return generateKeyPairSync('ed25519').privateKey;
}

/** The demo's key ring: from JWT_SECRET / JWT_PRIVATE_KEY_FILE, or an ephemeral key with a warning. */
export function loadDemoKeys(config: DemoConfig): JwtKeyOptions[] {
  const algorithms: JwtKeyOptions['algorithms'] = [config.algorithm];
  if (config.algorithm === 'HS256') {
    let secret: KeyObject;
    if (config.secret !== undefined) {
      secret = createSecretKey(Buffer.from(config.secret, 'utf8'));
    } else {
      logger.warn('JWT_SECRET is not set: using an ephemeral HS256 secret; tokens die with this process.');
      secret = createSecretKey(randomBytes(32));
    }
    // Keyed hash, so the kid reveals nothing usable about the secret.
    const kid = `hs-${createHash('sha256').update('jwt-defense kid').update(secret.export()).digest('base64url').slice(0, 16)}`;
    return [{ kid, algorithms, secret }];
  }
  let privateKey: KeyObject;
  if (config.privateKeyFile !== undefined) {
    privateKey = createPrivateKey(readFileSync(config.privateKeyFile));
  } else {
    if (config.publicKeyFile !== undefined) {
      throw new TypeError('demo: JWT_PUBLIC_KEY_FILE needs JWT_PRIVATE_KEY_FILE too: the demo signs its own tokens');
    }
    logger.warn(`JWT_PRIVATE_KEY_FILE is not set: using an ephemeral ${config.algorithm} key; tokens die with this process.`);
    privateKey = generate(config.algorithm);
  }
  const publicKey = createPublicKey(privateKey);
  if (config.publicKeyFile !== undefined) {
    const given = createPublicKey(readFileSync(config.publicKeyFile));
    if (!given.equals(publicKey)) {
      throw new TypeError('demo: JWT_PUBLIC_KEY_FILE is not the public half of JWT_PRIVATE_KEY_FILE');
    }
  }
  return [{ kid: thumbprint(publicKey), algorithms, privateKey }];
}
