import proxyAddr from 'proxy-addr';
import { PROXY_HEADERS, type AnomalyContainment, type LayerMode, type ProxyHeader, type ReplicaAcks } from '@jwt-defense/core';

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
  redisReplicaAcks: ReplicaAcks;
  trustProxy: string[];
  trustProxyHeader: ProxyHeader;
  /** THROTTLE_ALLOW: clients (IPs or CIDRs) that skip the per-IP and per-user limits, never authentication. */
  throttleAllow: string[];
  throttleLimit: number;
  throttleTtlMs: number;
  loginLimit: number;
  loginTtlMs: number;
  /**
   * STORE_INSURANCE `on`: per-instance limits while the store is down, for STORE_INSURANCE_INSTANCES instances (1; an
   * extension); `off` (the default): each limit's fail mode.
   */
  storeInsurance: { instances: number } | false;
  accessTokenTtlSec: number;
  /** SESSION_MAX_PER_USER: most live refresh sessions of one user (the oldest beyond it is revoked). */
  sessionMaxPerUser: number;
  countryHeader: string;
  riskMode: LayerMode;
  riskStepUpAt: number;
  riskDenyAt: number;
  anomalyMode: LayerMode;
  anomalyIntervalSec: number;
  anomalyWarmupIntervals: number;
  anomalyFactor: number;
  anomalyMinRequests: number;
  anomalyContainment: AnomalyContainment;
  externalIssuer?: string;
  externalAudience?: string;
  externalJwksUrl?: string;
  externalRolesClaim?: string;
  externalCaFile?: string;
  externalMaxTokenTtlSec: number;
  dpop: 'allowed' | 'required' | 'off';
  publicUrl?: string;
  /** Operations: `/metrics` without auth (METRICS_PUBLIC), a static bearer for scrapers (METRICS_TOKEN). */
  metricsPublic: boolean;
  metricsToken?: string;
  /** Key-encryption key of rotated signing keys (JWT_KEY_ENCRYPTION_KEY, base64 of 32 bytes; an extension). */
  keyEncryptionKey?: string;
  /** SIEM_URL / SIEM_TOKEN: forward security events as NDJSON over HTTP (an extension). */
  siemUrl?: string;
  siemToken?: string;
  /** LOG_FORMAT `json` (structured, one object per line) or `text` (an extension). */
  logFormat: 'json' | 'text';
}

function httpsUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`demo: ${name} must be an https URL`);
  }
  if (url.protocol !== 'https:') throw new TypeError(`demo: ${name} must be an https URL`);
  return raw;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const value = (text(env, name) ?? fallback).toLowerCase() as T;
  if (!allowed.includes(value)) throw new TypeError(`demo: ${name} must be one of ${allowed.join(', ')}`);
  return value;
}

function decimal(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) throw new TypeError(`demo: ${name} must be a number from ${min} to ${max}`);
  return value;
}

const ALGORITHMS: readonly DemoAlgorithm[] = ['HS256', 'RS256', 'ES256', 'EdDSA'];
const MODES: readonly LayerMode[] = ['enforce', 'monitor', 'off'];

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`demo: ${name} must be an integer from ${min} to ${max} (got an invalid value)`);
  }
  return value;
}

/** REDIS_REPLICA_ACKS: `auto` (the default) or 0 to 5. */
function replicaAcks(env: NodeJS.ProcessEnv): ReplicaAcks {
  const raw = (text(env, 'REDIS_REPLICA_ACKS') ?? 'auto').toLowerCase();
  if (raw === 'auto') return 'auto';
  if (!/^[0-5]$/.test(raw)) throw new TypeError('demo: REDIS_REPLICA_ACKS must be auto or an integer from 0 to 5');
  return Number(raw) as ReplicaAcks;
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** A comma-separated list of IP addresses or CIDRs (TRUST_PROXY, THROTTLE_ALLOW); absent: none. */
function addressList(env: NodeJS.ProcessEnv, name: string): string[] {
  const list = (text(env, name) ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  try {
    proxyAddr.compile(list);
  } catch {
    throw new TypeError(`demo: ${name} must be a comma-separated list of IP addresses or CIDRs (e.g. 10.0.0.0/8)`);
  }
  return list;
}

/** A scraper's static bearer: long enough not to be guessed, and a valid bearer token68. */
function metricsToken(env: NodeJS.ProcessEnv): string | undefined {
  const token = text(env, 'METRICS_TOKEN');
  if (token !== undefined && !/^[A-Za-z0-9._~+/-]{16,512}=*$/.test(token)) {
    throw new TypeError('demo: METRICS_TOKEN must be 16-512 characters of [A-Za-z0-9._~+/-] (e.g. openssl rand -hex 32)');
  }
  return token;
}

function siemUrl(env: NodeJS.ProcessEnv): string | undefined {
  const url = text(env, 'SIEM_URL');
  if (url !== undefined && !/^https?:\/\/\S+$/.test(url)) throw new TypeError('demo: SIEM_URL must be an http(s) URL');
  return url;
}

/** STORE_INSURANCE `off` | `on`, and with `on` STORE_INSURANCE_INSTANCES (1 to 1000, default 1). */
function storeInsurance(env: NodeJS.ProcessEnv): { instances: number } | false {
  const on = oneOf(env, 'STORE_INSURANCE', ['off', 'on'] as const, 'off') === 'on';
  if (!on && text(env, 'STORE_INSURANCE_INSTANCES') !== undefined) throw new TypeError('demo: STORE_INSURANCE_INSTANCES needs STORE_INSURANCE=on');
  return on ? { instances: int(env, 'STORE_INSURANCE_INSTANCES', 1, 1, 1000) } : false;
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
  const trustProxy = addressList(env, 'TRUST_PROXY');
  const trustProxyHeader = (text(env, 'TRUST_PROXY_HEADER') ?? 'x-forwarded-for').toLowerCase() as ProxyHeader;
  if (!PROXY_HEADERS.includes(trustProxyHeader)) {
    throw new TypeError(`demo: TRUST_PROXY_HEADER must be one of ${PROXY_HEADERS.join(', ')}`);
  }
  const externalIssuer = httpsUrl(env, 'EXTERNAL_ISSUER');
  const externalAudience = text(env, 'EXTERNAL_AUDIENCE');
  if (externalIssuer !== undefined && externalAudience === undefined) {
    throw new TypeError('demo: EXTERNAL_AUDIENCE is required with EXTERNAL_ISSUER (this API\'s audience at the provider)');
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
    redisReplicaAcks: replicaAcks(env),
    trustProxy,
    trustProxyHeader,
    throttleAllow: addressList(env, 'THROTTLE_ALLOW'),
    throttleLimit: int(env, 'THROTTLE_LIMIT', 100, 1, 1_000_000_000),
    throttleTtlMs: int(env, 'THROTTLE_TTL_MS', 60_000, 1, 86_400_000),
    loginLimit: int(env, 'LOGIN_LIMIT', 10, 1, 1_000_000_000),
    loginTtlMs: int(env, 'LOGIN_TTL_MS', 60_000, 1, 86_400_000),
    storeInsurance: storeInsurance(env),
    accessTokenTtlSec: int(env, 'ACCESS_TOKEN_TTL_SEC', 300, 1, 900),
    sessionMaxPerUser: int(env, 'SESSION_MAX_PER_USER', 50, 1, 10_000),
    countryHeader: (text(env, 'COUNTRY_HEADER') ?? 'cf-ipcountry').toLowerCase(),
    riskMode: oneOf(env, 'RISK_MODE', MODES, 'enforce'),
    riskStepUpAt: decimal(env, 'RISK_STEP_UP_AT', 0.4, 0, 2),
    riskDenyAt: decimal(env, 'RISK_DENY_AT', 0.8, 0, 2),
    anomalyMode: oneOf(env, 'ANOMALY_MODE', MODES, 'enforce'),
    anomalyIntervalSec: int(env, 'ANOMALY_INTERVAL_SEC', 3600, 10, 604_800),
    anomalyWarmupIntervals: int(env, 'ANOMALY_WARMUP_INTERVALS', 24, 0, 10_000),
    anomalyFactor: decimal(env, 'ANOMALY_FACTOR', 3, 1, 1000),
    anomalyMinRequests: int(env, 'ANOMALY_MIN_REQUESTS', 20, 1, 1_000_000),
    anomalyContainment: oneOf(env, 'ANOMALY_CONTAINMENT', ['none', 'step-up', 'revoke'] as const, 'none'),
    externalIssuer,
    externalAudience,
    externalJwksUrl: httpsUrl(env, 'EXTERNAL_JWKS_URL'),
    externalRolesClaim: text(env, 'EXTERNAL_ROLES_CLAIM'),
    externalCaFile: text(env, 'EXTERNAL_CA_FILE'),
    externalMaxTokenTtlSec: int(env, 'EXTERNAL_MAX_TOKEN_TTL_SEC', 3600, 60, 86_400),
    dpop: oneOf(env, 'DPOP', ['allowed', 'required', 'off'] as const, 'allowed'),
    publicUrl: text(env, 'PUBLIC_URL'),
    metricsPublic: oneOf(env, 'METRICS_PUBLIC', ['true', 'false'] as const, 'false') === 'true',
    metricsToken: metricsToken(env),
    keyEncryptionKey: text(env, 'JWT_KEY_ENCRYPTION_KEY'),
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'text'] as const, 'text'),
    siemUrl: siemUrl(env),
    siemToken: text(env, 'SIEM_TOKEN'),
  };
}
