import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { resolveOptions } from '../common/options.js';
import type { KeyMaterial } from './key-ring.js';
import { TokenOptions } from './token.options.js';

const hsKey = (secret: KeyMaterial) => resolveOptions(TokenOptions, { issuer: 'iss', audience: 'api', keys: [{ kid: 'k', algorithms: ['HS256'], secret }] }, 'token');

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

// A public key as an HS256 secret lets anyone who has the public key mint tokens: refused at boot, whatever its form.
const keysAsSecrets: Array<[string, KeyMaterial]> = [
  ['an RSA public key PEM (SPKI)', rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string],
  ['an RSA public key PEM (PKCS#1)', rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string],
  ['an RSA private key PEM', rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string],
  ['an EC public key PEM in a Buffer', ec.publicKey.export({ format: 'pem', type: 'spki' })],
  ['a certificate-like PEM with leading whitespace', `\n  -----BEGIN CERTIFICATE-----\n${randomBytes(64).toString('base64')}\n-----END CERTIFICATE-----\n`],
  ['an RSA public key DER (SPKI)', rsa.publicKey.export({ format: 'der', type: 'spki' })],
  ['an EC private key DER (SEC1)', ec.privateKey.export({ format: 'der', type: 'sec1' })],
  ['an Ed25519 private key DER (PKCS#8)', ed.privateKey.export({ format: 'der', type: 'pkcs8' })],
  ['an RSA public KeyObject', rsa.publicKey],
  ['an EC private KeyObject', ec.privateKey],
];

describe('resolveKey: an HS* secret', () => {
  it.each(keysAsSecrets)('refuses %s, naming token.keys[0].secret', (_name, secret) => {
    expect(() => hsKey(secret)).toThrow(TypeError);
    expect(() => hsKey(secret)).toThrow(/token\.keys\[0\]\.secret .*not a secret/);
  });

  it.each<[string, KeyMaterial]>([
    ['random bytes', randomBytes(32)],
    ['random bytes that start like DER (0x30)', Buffer.concat([Buffer.from([0x30, 0x82]), randomBytes(62)])],
    ['a long random string', randomBytes(48).toString('base64url')],
    ['a secret KeyObject', createSecretKey(randomBytes(32))],
  ])('accepts %s', (_name, secret) => {
    expect(hsKey(secret).keys).toHaveLength(1);
  });
});
