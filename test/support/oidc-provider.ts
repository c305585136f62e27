import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPair, randomBytes, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpRequestRaw } from 'node:http';
import { request as httpsRequestRaw } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { signJws, type ForgeAlgorithm } from './jws.js';

/**
 * A real OpenID provider for tests: the `oidc-provider` package (ESM-only, so it runs in a child Node process
 * that Jest never loads) over HTTPS on a free loopback port, with a certificate from a throwaway CA made with
 * `openssl` at start. Client credentials grant only; access tokens are RFC 9068 JWTs (`typ: at+jwt`) for the
 * resource indicator, optionally DPoP-bound (RFC 9449).
 *
 * What oidc-provider 9 puts in a client-credentials access token (header and claims, in this order):
 *   header `{ alg, typ: 'at+jwt', kid }`
 *   claims `{ ...extraClaims, jti, sub, iat, exp, scope?, client_id, iss, aud, cnf?: { jkt } }`
 * `sub` is the client id (no user), `aud` the resource indicator (a string), `scope` is absent when no scope
 * was granted, `cnf.jkt` only when the token request carried a DPoP proof. No `auth_time`: the provider has
 * no such claim for access tokens of any grant; `extraClaims` (through the provider's `extraTokenClaims`
 * hook) can add it, but cannot override the reserved claims above. For anything else (typ `JWT`, no `jti`,
 * another `iss`) use {@link OidcProvider.signArbitraryToken}, which signs with the provider's current key.
 *
 * Real OpenID ID tokens come from {@link OidcProvider.login}: a web client (`webClientId`) logs a user in through
 * the authorization endpoint (no pages: the child finishes the interaction itself), by the code, hybrid or implicit
 * flow. oidc-provider 9 signs them `{ alg, kid }` (no `typ`) over `{ sub, nonce?, at_hash?, c_hash?, sid?,
 * auth_time, iss, aud: <web client id>, exp, iat }`: no `jti`, no `azp`.
 */

export type OidcSigningAlg = 'ES256' | 'RS256';

export interface OidcProviderOptions {
  /** Resource indicator used when a token request names none; becomes the token's `aud`. */
  audience: string;
  clientId: string;
  /** Secret of the confidential client (client_secret_basic). */
  clientSecret: string;
  /** Access-token lifetime in seconds. Default 300. */
  accessTokenTtlSec?: number;
  /** Require a provider-issued DPoP nonce in proofs at the token endpoint. Default false. */
  dpopNonce?: boolean;
  /** Scopes of the client and of every resource server. Default `['api:read', 'api:write']`. */
  scopes?: string[];
  /** One signing key is generated per algorithm (and per rotation). Default `['ES256', 'RS256']`. */
  algorithms?: OidcSigningAlg[];
  /** Algorithm of the access tokens. Default the first of `algorithms`. */
  accessTokenAlg?: OidcSigningAlg;
  /** Client id of the web client that logs users in (the `aud` of its ID tokens). Default `web`. */
  webClientId?: string;
  /** Serve plain http instead of https (a development provider on this machine): the issuer is `http://127.0.0.1:<port>`. Default false. */
  http?: boolean;
}

/** Where the web client's authorization responses go (never fetched: the redirect is read, not followed). */
export const WEB_REDIRECT_URI = 'https://client.test/cb';

export interface LoginRequest {
  /**
   * `code`: the ID token comes from the token endpoint; `code id_token` (hybrid): from the authorization endpoint,
   * with `c_hash`; `id_token token` (implicit): with `at_hash`; `id_token`: alone.
   */
  responseType: 'code' | 'code id_token' | 'id_token' | 'id_token token';
  /** The account that logs in (the ID token's `sub`). Default `user-1`. */
  sub?: string;
  /** The request's `nonce`: default a random one; `null` sends none (the code flow allows that). */
  nonce?: string | null;
}

export interface LoginResult {
  id_token: string;
  /** With `id_token token`. */
  access_token?: string;
}

export interface ClientCredentialsRequest {
  /** Space-separated scopes. Default all configured scopes; `''` asks for none (the token then has no `scope`). */
  scope?: string;
  /** When set, the request carries a DPoP proof made with this private key and the token is DPoP-bound. */
  dpopKey?: KeyObject;
  /** Resource indicator (RFC 8707); any absolute URI is accepted and becomes `aud`. Default `audience`. */
  resource?: string;
  /** Extra claims for this one token (e.g. `auth_time`), added by the provider's `extraTokenClaims` hook. */
  extraClaims?: Record<string, unknown>;
  /** Authenticate with this secret instead of the client's (to provoke `invalid_client`). */
  clientSecret?: string;
}

export interface TokenResponse {
  access_token: string;
  /** `Bearer`, or `DPoP` for a DPoP-bound token. */
  token_type: string;
  expires_in: number;
  scope?: string;
}

export interface OidcSigningKey {
  kid: string;
  alg: OidcSigningAlg;
  privateKey: KeyObject;
  /** Public JWK as published in the JWKS (`kid`, `alg`, `use: 'sig'`). */
  publicJwk: JsonWebKey;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A token request the provider refused (`status` and the OAuth `error` of its answer). */
export class OidcTokenError extends Error {
  override readonly name = 'OidcTokenError';
  constructor(
    readonly status: number,
    readonly error: string,
    readonly body: string,
  ) {
    super(`token request failed: ${status} ${body}`);
  }
}

/**
 * The provider's child script. Under Jest (CommonJS) beside this file; in a program built to ESM (`npm run soak`,
 * where `__dirname` does not exist and the .mjs is not copied to dist) in the repository's test/support, from the
 * working directory that `npm run` sets to the repository.
 */
const childScript = (): string =>
  typeof __dirname === 'string' ? join(__dirname, 'oidc-provider.child.mjs') : resolve('test', 'support', 'oidc-provider.child.mjs');
const EXTRA_CLAIMS_HEADER = 'x-test-extra-claims';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;

/** One HTTPS request that trusts only `ca` (or the default roots when absent), or one plain http request for an http URL; no connection reuse. */
export function httpsRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string | Buffer } = {},
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('http:') ? httpRequestRaw : httpsRequestRaw)(
      url,
      { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The JWS algorithm a DPoP proof key signs with: ES256 (P-256), EdDSA (Ed25519) or RS256 (RSA). */
function proofAlgorithm(key: KeyObject): ForgeAlgorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  throw new TypeError(`no DPoP algorithm for a ${key.asymmetricKeyType} key: use P-256, Ed25519 or RSA`);
}

/**
 * A DPoP proof JWT (RFC 9449 §4.2) signed with `key`, its public JWK in the header. `ath` is the access
 * token it goes with (hashed here), for requests to a resource server.
 */
export function createDpopProof(
  key: KeyObject,
  claims: { htm: string; htu: string; accessToken?: string; nonce?: string; iat?: number; jti?: string },
): string {
  const alg = proofAlgorithm(key);
  const { kty, crv, x, y, n, e } = createPublicKey(key).export({ format: 'jwk' });
  const payload = {
    jti: claims.jti ?? randomUUID(),
    htm: claims.htm,
    htu: claims.htu,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.nonce === undefined ? {} : { nonce: claims.nonce }),
    ...(claims.accessToken === undefined
      ? {}
      : { ath: createHash('sha256').update(claims.accessToken).digest('base64url') }),
  };
  return signJws({ typ: 'dpop+jwt', alg, jwk: { kty, crv, x, y, n, e } }, payload, key, alg);
}

/** Installs openssl with apt when it is missing and we are root, like the Redis helper does for redis-server. */
export function ensureOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return;
  } catch {
    // fall through
  }
  if (process.getuid?.() !== 0) throw new Error('openssl is missing: install it (apt-get install openssl)');
  execFileSync('bash', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl'], { stdio: 'ignore' });
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost, both valid one day, in `dir`. */
export function issueCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  ensureOpenssl();
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '1', '-subj', '/CN=jwt-defense test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ].join('\n'));
  openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '1', '-sha256', '-extfile', ext, '-out', certFile]);
  rmSync(caKey);
  return { caFile, certFile, keyFile };
}

const generateKeyPairAsync = promisify(generateKeyPair);

async function generateSigningKey(alg: OidcSigningAlg): Promise<OidcSigningKey> {
  const { privateKey } =
    alg === 'ES256'
      ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
      : await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const kid = `${alg.toLowerCase()}-${randomBytes(9).toString('base64url')}`;
  const publicJwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

interface ChildReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class OidcProvider {
  /** Newest first: the first key of each algorithm is the current one. */
  private keys: OidcSigningKey[] = [];
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private output = '';
  private dpopNonce?: string;
  private stopped?: Promise<void>;
  private readonly webSecret = randomBytes(24).toString('base64url');

  readonly caPem: string;
  /** `https://127.0.0.1:<port>` (`http://` with the `http` option), set once started. */
  issuer!: string;
  port!: number;
  /** The provider's discovery document (`/.well-known/openid-configuration`). */
  discovery!: Record<string, unknown> & { jwks_uri: string; token_endpoint: string };

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly caFile: string,
    private readonly options: Required<OidcProviderOptions>,
  ) {
    this.caPem = readFileSync(caFile, 'utf8');
    child.stdout?.on('data', (chunk: Buffer) => this.record(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.record(chunk));
    child.on('message', (reply: ChildReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`oidc-provider child: ${reply.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`oidc-provider child exited (${code ?? signal}): ${this.output.slice(-2000)}`));
      }
      this.pending.clear();
    });
  }

  static async start(options: OidcProviderOptions): Promise<OidcProvider> {
    const algorithms = options.algorithms ?? ['ES256', 'RS256'];
    const resolved: Required<OidcProviderOptions> = {
      webClientId: 'web',
      http: false,
      accessTokenTtlSec: 300,
      dpopNonce: false,
      scopes: ['api:read', 'api:write'],
      accessTokenAlg: algorithms[0],
      ...options,
      algorithms,
    };
    if (!algorithms.includes(resolved.accessTokenAlg)) {
      throw new TypeError(`accessTokenAlg ${resolved.accessTokenAlg} has no key: add it to algorithms`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'jwtd-oidc-'));
    const [certs, keys] = await Promise.all([
      Promise.resolve().then(() => issueCertificates(dir)),
      Promise.all(algorithms.map(generateSigningKey)),
    ]);
    const child = fork(childScript(), [], { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    const op = new OidcProvider(child, dir, certs.caFile, resolved);
    op.keys = keys;
    try {
      const { port, issuer } = (await op.call('init', {
        config: {
          audience: resolved.audience,
          clientId: resolved.clientId,
          clientSecret: resolved.clientSecret,
          accessTokenTtlSec: resolved.accessTokenTtlSec,
          scopes: resolved.scopes,
          accessTokenAlg: resolved.accessTokenAlg,
          dpopNonce: resolved.dpopNonce,
          dpopNonceSecret: randomBytes(32).toString('base64'),
          cookieKey: randomBytes(32).toString('base64url'),
          certFile: certs.certFile,
          keyFile: certs.keyFile,
          http: resolved.http,
          web: { clientId: resolved.webClientId, clientSecret: op.webSecret, redirectUri: WEB_REDIRECT_URI },
        },
        ...op.keyMessage(),
      })) as { port: number; issuer: string };
      op.port = port;
      op.issuer = issuer;
      const res = await op.request(`${issuer}/.well-known/openid-configuration`);
      if (res.status !== 200) throw new Error(`discovery answered ${res.status}: ${res.body}`);
      op.discovery = JSON.parse(res.body) as OidcProvider['discovery'];
    } catch (err) {
      await op.stop();
      throw err;
    }
    return op;
  }

  /** The child's process id (to check that `stop()` ended it). */
  get pid(): number {
    return this.child.pid!;
  }

  /** The `jwks_uri` of the discovery document. */
  get jwksUri(): string {
    return this.discovery.jwks_uri;
  }

  get tokenEndpoint(): string {
    return this.discovery.token_endpoint;
  }

  /** The current signing key of `alg` (default: the access-token algorithm). */
  currentKey(alg: OidcSigningAlg = this.options.accessTokenAlg): OidcSigningKey {
    const key = this.keys.find((candidate) => candidate.alg === alg);
    if (!key) throw new TypeError(`the provider has no ${alg} key`);
    return key;
  }

  /** Every key in the published JWKS, newest first. */
  signingKeys(): readonly OidcSigningKey[] {
    return [...this.keys];
  }

  /** An HTTPS request trusting the test CA (and nothing else). */
  request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsResponse> {
    return httpsRequest(url, { ...options, ca: this.caPem });
  }

  /**
   * Client credentials grant at the token endpoint (client_secret_basic). With `dpopKey` the request carries a
   * DPoP proof; when the provider asks for a nonce (`use_dpop_nonce`) the request is retried once with it.
   * Throws {@link OidcTokenError} when the provider refuses.
   */
  async clientCredentialsToken(req: ClientCredentialsRequest = {}): Promise<TokenResponse> {
    const params = new URLSearchParams({ grant_type: 'client_credentials', resource: req.resource ?? this.options.audience });
    const scope = req.scope ?? this.options.scopes.join(' ');
    if (scope) params.set('scope', scope);
    const basic = Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(req.clientSecret ?? this.options.clientSecret)}`).toString('base64');
    const send = async () => {
      const headers: Record<string, string> = {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      };
      if (req.extraClaims) headers[EXTRA_CLAIMS_HEADER] = Buffer.from(JSON.stringify(req.extraClaims)).toString('base64url');
      if (req.dpopKey) {
        headers.dpop = createDpopProof(req.dpopKey, { htm: 'POST', htu: this.tokenEndpoint, nonce: this.dpopNonce });
      }
      const res = await this.request(this.tokenEndpoint, { method: 'POST', headers, body: params.toString() });
      const nonce = res.headers['dpop-nonce'];
      if (typeof nonce === 'string') this.dpopNonce = nonce;
      return res;
    };
    let res = await send();
    if (res.status === 400 && req.dpopKey && errorCode(res.body) === 'use_dpop_nonce') res = await send();
    if (res.status !== 200) throw new OidcTokenError(res.status, errorCode(res.body), res.body);
    return JSON.parse(res.body) as TokenResponse;
  }

  /**
   * A user logs in at the provider through its web client (authorization endpoint, redirects followed with their
   * cookies, the interaction finished by the child), and the client gets its OpenID ID token: from the redirect's
   * fragment, or from the token endpoint for the code flow.
   */
  async login(req: LoginRequest): Promise<LoginResult> {
    const nonce = req.nonce === undefined ? randomBytes(12).toString('base64url') : req.nonce;
    const params = new URLSearchParams({
      client_id: this.options.webClientId,
      response_type: req.responseType,
      scope: 'openid',
      redirect_uri: WEB_REDIRECT_URI,
      state: randomBytes(8).toString('base64url'),
      login_hint: req.sub ?? 'user-1',
      ...(nonce === null ? {} : { nonce }),
    });
    const cookies = new Map<string, string>();
    let url = `${this.issuer}/auth?${params}`;
    for (let hop = 0; hop < 8; hop++) {
      const res = await this.request(url, { headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') } });
      for (const line of res.headers['set-cookie'] ?? []) {
        const [pair] = line.split(';');
        const at = pair.indexOf('=');
        cookies.set(pair.slice(0, at), pair.slice(at + 1));
      }
      const location = res.headers.location;
      if (res.status < 300 || res.status >= 400 || typeof location !== 'string') throw new Error(`login: ${url} answered ${res.status}: ${res.body.slice(0, 500)}`);
      if (!location.startsWith(WEB_REDIRECT_URI)) {
        url = new URL(location, this.issuer).toString();
        continue;
      }
      const redirect = new URL(location);
      const answer = new URLSearchParams(redirect.hash ? redirect.hash.slice(1) : redirect.search);
      if (answer.get('error')) throw new Error(`login refused: ${answer.get('error')} ${answer.get('error_description') ?? ''}`);
      if (req.responseType !== 'code') return { id_token: answer.get('id_token')!, ...(answer.get('access_token') ? { access_token: answer.get('access_token')! } : {}) };
      const basic = Buffer.from(`${encodeURIComponent(this.options.webClientId)}:${encodeURIComponent(this.webSecret)}`).toString('base64');
      const token = await this.request(this.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: answer.get('code')!, redirect_uri: WEB_REDIRECT_URI }).toString(),
      });
      if (token.status !== 200) throw new OidcTokenError(token.status, errorCode(token.body), token.body);
      return { id_token: (JSON.parse(token.body) as { id_token: string }).id_token };
    }
    throw new Error('login: too many redirects');
  }

  /**
   * New signing keys (one per algorithm) become current, so new tokens carry a new `kid`. The old keys stay
   * in the JWKS unless `retireOld` (then tokens signed with them no longer verify against the JWKS).
   */
  async rotateKeys(options: { retireOld?: boolean } = {}): Promise<void> {
    const fresh = await Promise.all(this.options.algorithms.map(generateSigningKey));
    this.keys = options.retireOld ? fresh : [...fresh, ...this.keys];
    await this.call('keys', this.keyMessage());
  }

  /**
   * Members the discovery document (`/.well-known/openid-configuration`) says over what the provider says, from now on
   * (`{}` for none): a provider whose `jwks_uri` points elsewhere.
   */
  async overrideDiscovery(members: Record<string, unknown>): Promise<void> {
    await this.call('discovery', { members });
  }

  /** How many times the JWKS (`jwks_uri`) was fetched since start, counted in the provider process. */
  async jwksRequestCount(): Promise<number> {
    const stats = (await this.call('stats', {})) as { jwksRequests: number };
    return stats.jwksRequests;
  }

  /**
   * A JWS over `claims` exactly as given (nothing added), signed with the provider's current key of
   * `header.alg` (default the access-token algorithm). The header defaults to `{ alg, typ: 'at+jwt', kid }`
   * and `header` overrides it; a member set to `undefined` is dropped. For tokens the provider would not
   * issue: a chosen `auth_time`, `typ: 'JWT'`, no `jti`.
   */
  signArbitraryToken(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
    const alg = (header.alg ?? this.options.accessTokenAlg) as OidcSigningAlg;
    const key = this.currentKey(alg);
    return signJws({ alg, typ: 'at+jwt', kid: key.kid, ...header }, claims, key.privateKey, alg);
  }

  /** Stops the provider, waits for its process to exit (killing it after 3 s) and removes the temp dir. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
        const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        if (this.child.connected) await this.call('stop', {}).catch(() => undefined);
        await exited;
        clearTimeout(timer);
      }
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }

  private keyMessage(): { jwks: JsonWebKey[]; currentKids: Partial<Record<OidcSigningAlg, string>> } {
    const currentKids: Partial<Record<OidcSigningAlg, string>> = {};
    for (const alg of this.options.algorithms) currentKids[alg] = this.currentKey(alg).kid;
    const jwks = this.keys.map((key) => ({ ...key.privateKey.export({ format: 'jwk' }), kid: key.kid, alg: key.alg, use: 'sig' }));
    return { jwks, currentKids };
  }

  private call(type: string, message: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`oidc-provider child did not answer ${type} within ${START_TIMEOUT_MS} ms: ${this.output.slice(-2000)}`));
      }, START_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      this.child.send({ ...message, id, type }, (err) => {
        if (err) this.pending.get(id)?.reject(err);
      });
    });
  }

  private record(chunk: Buffer): void {
    this.output = (this.output + chunk.toString('utf8')).slice(-8000);
  }
}

function errorCode(body: string): string {
  try {
    return String((JSON.parse(body) as { error?: unknown }).error);
  } catch {
    return 'invalid_response';
  }
}
