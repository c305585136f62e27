import proxyAddr from 'proxy-addr';
import { PROXY_HEADERS, type ProxyHeader } from '@jwt-defense/core';

export type DemoAlgorithm = 'HS256' | 'RS256' | 'ES256' | 'EdDSA';
export type HttpAdapterName = 'express' | 'fastify';

/** The demo's configuration, read from the environment (see README "Demo app"). */
export interface DemoConfig {
  port: number;
  adapter: HttpAdapterName;
  algorithm: DemoAlgorithm;
  secret?: string;
  privateKeyFile?: string;
  publicKeyFile?: string;
  issuer: string;
  audience: string;
  redisUrl?: string;
  redisKeyPrefix?: string;
  redisCommandTimeoutMs?: number;
  trustProxy: string[];
  trustProxyHeader: ProxyHeader;
  throttleLimit: number;
  throttleTtlMs: number;
  loginLimit: number;
  loginTtlMs: number;
  accessTokenTtlSec: number;
}

const ALGORITHMS: readonly DemoAlgorithm[] = ['HS256', 'RS256', 'ES256', 'EdDSA'];

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`demo: ${name} must be an integer from ${min} to ${max} (got an invalid value)`);
  }
  return value;
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Reads and checks the environment; throws a `TypeError` naming the variable on a bad value. */
export function loadDemoConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const algorithm = (text(env, 'JWT_ALGORITHM') ?? 'ES256') as DemoAlgorithm;
  if (!ALGORITHMS.includes(algorithm)) {
    throw new TypeError(`demo: JWT_ALGORITHM must be one of ${ALGORITHMS.join(', ')}`);
  }
  const adapter = (text(env, 'HTTP_ADAPTER') ?? 'express') as HttpAdapterName;
  if (adapter !== 'express' && adapter !== 'fastify') {
    throw new TypeError('demo: HTTP_ADAPTER must be express or fastify');
  }
  const trustProxy = (text(env, 'TRUST_PROXY') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  try {
    proxyAddr.compile(trustProxy);
  } catch {
    throw new TypeError('demo: TRUST_PROXY must be a comma-separated list of IP addresses or CIDRs (e.g. 10.0.0.0/8)');
  }
  const trustProxyHeader = (text(env, 'TRUST_PROXY_HEADER') ?? 'x-forwarded-for').toLowerCase() as ProxyHeader;
  if (!PROXY_HEADERS.includes(trustProxyHeader)) {
    throw new TypeError(`demo: TRUST_PROXY_HEADER must be one of ${PROXY_HEADERS.join(', ')}`);
  }
  const redisUrl = text(env, 'REDIS_URL');
  for (const url of redisUrl?.split(',') ?? []) {
    if (!/^rediss?:\/\/[^\s]+$/.test(url.trim())) {
      throw new TypeError('demo: REDIS_URL must be redis://host:port (or a comma-separated list of Cluster nodes)');
    }
  }
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    adapter,
    algorithm,
    secret: text(env, 'JWT_SECRET'),
    privateKeyFile: text(env, 'JWT_PRIVATE_KEY_FILE'),
    publicKeyFile: text(env, 'JWT_PUBLIC_KEY_FILE'),
    issuer: text(env, 'JWT_ISSUER') ?? 'jwt-defense-demo',
    audience: text(env, 'JWT_AUDIENCE') ?? 'jwt-defense-demo',
    redisUrl,
    redisKeyPrefix: text(env, 'REDIS_KEY_PREFIX'),
    redisCommandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS ? int(env, 'REDIS_COMMAND_TIMEOUT_MS', 500, 10, 60_000) : undefined,
    trustProxy,
    trustProxyHeader,
    throttleLimit: int(env, 'THROTTLE_LIMIT', 100, 1, 1_000_000_000),
    throttleTtlMs: int(env, 'THROTTLE_TTL_MS', 60_000, 1, 86_400_000),
    loginLimit: int(env, 'LOGIN_LIMIT', 10, 1, 1_000_000_000),
    loginTtlMs: int(env, 'LOGIN_TTL_MS', 60_000, 1, 86_400_000),
    accessTokenTtlSec: int(env, 'ACCESS_TOKEN_TTL_SEC', 300, 1, 900),
  };
}
