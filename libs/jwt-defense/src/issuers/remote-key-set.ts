import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { Logger } from '@nestjs/common';
import { createRemoteJWKSet, customFetch, errors, type CryptoKey, type FetchImplementation, type JWSHeaderParameters, type RemoteJWKSet } from 'jose';
import { jwkOutOfBounds } from '../edge/jwk-bounds.js';
import { IssuerUnavailableException, TokenVerificationError } from '../errors/defense.exceptions.js';
import { issuerUrlProblem, type IssuerOptions } from './issuer.options.js';

/** Largest discovery document or JWKS accepted, in bytes. */
const MAX_DOCUMENT_BYTES = 512 * 1024;

/** What Node's TLS says of a certificate chain no trusted CA signs (self-signed, private CA). */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** A value the provider sent, for a log line: quoted, escaped, bounded. */
const shown = (value: unknown): string => (JSON.stringify(value) ?? String(value)).slice(0, 200);

/** The messages of one issuer's fetches (`path` is `issuers[i]`): each names the option that fixes it. */
const messages = {
  untrusted: (path: string, url: string, code: string, hasCa: boolean) =>
    `the TLS certificate of ${new URL(url).host} is not trusted (${code}): ${hasCa ? `${path}.ca does not sign it; ` : ''}` +
    `give the CA that signs it (PEM) as ${path}.ca, or to the whole process with NODE_EXTRA_CA_CERTS`,
  refused: (url: string, problem: string) => `${shown(url)} is not fetched: it ${problem}`,
  otherIssuer: (path: string, url: string, configured: string, discovered: unknown) =>
    `the discovery document ${url} names the issuer ${shown(discovered)}, but ${path}.issuer is ${shown(configured)}: ` +
    `${path}.issuer must equal its tokens' \`iss\` exactly (a trailing slash counts)`,
  jwksUri: (problem: string) => `the discovery document's jwks_uri ${problem}`,
};

/**
 * A fetch for one issuer's endpoints through `node:https`, so a private CA (`ca`) can be trusted for that issuer
 * alone; without it the process's trust store (with `NODE_EXTRA_CA_CERTS`) applies. Plain `node:http` only for a URL
 * `allowInsecureLoopback` allows (a loopback host), with the same rules: redirects are not followed (jose asks for
 * `redirect: manual`), bodies are capped, one timeout.
 */
export function issuerFetch(options: IssuerOptions, path: string): FetchImplementation {
  const { ca, fetchTimeoutMs, allowInsecureLoopback } = options;
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const problem = issuerUrlProblem(url, allowInsecureLoopback, `${path}.allowInsecureLoopback`);
      if (problem) return reject(new Error(messages.refused(url, problem)));
      const request = (new URL(url).protocol === 'http:' ? httpRequest : httpsRequest)(
        url,
        {
          method: 'GET',
          headers: { accept: 'application/json', ...Object.fromEntries(init.headers) },
          ca: ca ? [...rootCertificates, ca] : undefined,
          signal: init.signal,
          timeout: fetchTimeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_DOCUMENT_BYTES) request.destroy(new Error('response too large'));
            else chunks.push(chunk);
          });
          response.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: response.statusCode ?? 502 })));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.on('error', (error: NodeJS.ErrnoException) =>
        reject(error.code && UNTRUSTED_CERTIFICATE.has(error.code) ? new Error(messages.untrusted(path, url, error.code, ca !== undefined), { cause: error }) : error),
      );
      request.end();
    });
}

/**
 * The signing keys of one external issuer: discovered (`<issuer>/.well-known/openid-configuration`, whose `issuer`
 * must match) unless `jwksUri` is given, fetched with jose's `createRemoteJWKSet`, kept without expiry and refreshed
 * in the background, so known keys keep working while the provider is down. A `kid` not in the cache triggers at
 * most one fetch per `jwksCooldownMs`; after a failed fetch, nothing is fetched again before the cooldown either
 * (a flood of unknown kids never floods the provider). When keys are needed and cannot be had: 503 `issuer_unavailable`.
 */
export class RemoteKeySet {
  private readonly logger = new Logger('JwtDefense');
  private set?: RemoteJWKSet;
  private loading?: Promise<RemoteJWKSet>;
  private lastFailureMs = -Infinity;
  private readonly fetch: FetchImplementation;
  /** Fetches made (discovery and JWKS), for tests and metrics. */
  fetches = 0;

  constructor(
    private readonly options: IssuerOptions,
    private readonly now: () => number,
    /** Where it is configured (`issuers[i]`), for messages that name the option to fix. */
    private readonly path: string,
  ) {
    const base = issuerFetch(options, path);
    this.fetch = (url, init) => {
      this.fetches++;
      return base(url, init);
    };
  }

  /** The key for a token's header (jose's `GetKey`). */
  async key(header: JWSHeaderParameters): Promise<CryptoKey> {
    const set = await this.keySet();
    const known = header.kid !== undefined && set.jwks()?.keys.some((jwk) => jwk.kid === header.kid) === true;
    if (!known && this.failedRecently()) throw new IssuerUnavailableException();
    let key: CryptoKey;
    try {
      key = await set(header);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
        throw new TokenVerificationError('signature_invalid', { reason: 'unknown_kid', cause: error });
      }
      this.noteFailure(error);
      throw new IssuerUnavailableException(error);
    }
    // The JWK the key was made from (jose picks it by kid, else by type: check every candidate), bounded before the
    // signature is verified with it: a hostile or broken JWKS must not make each request cost milliseconds.
    for (const jwk of set.jwks()?.keys ?? []) {
      if (header.kid !== undefined && jwk.kid !== header.kid) continue;
      if (jwk.alg !== undefined && jwk.alg !== header.alg) continue;
      const reason = jwkOutOfBounds(jwk as Record<string, unknown>, header.alg);
      if (reason && (header.kid !== undefined || reason !== 'jwk_alg')) throw new TokenVerificationError('signature_invalid', { reason });
    }
    return key;
  }

  /** Refreshes the cached keys now (the background job); a failure keeps the known keys. */
  async refresh(): Promise<void> {
    const set = await this.keySet();
    try {
      await set.reload();
    } catch (error) {
      this.noteFailure(error);
    }
  }

  private failedRecently(): boolean {
    return this.now() - this.lastFailureMs < this.options.jwksCooldownMs;
  }

  private noteFailure(error: unknown): void {
    this.lastFailureMs = this.now();
    this.logger.warn(`keys of ${this.options.issuer} could not be fetched: ${(error as Error)?.message ?? error}`);
  }

  private async keySet(): Promise<RemoteJWKSet> {
    if (this.set) return this.set;
    if (this.failedRecently()) throw new IssuerUnavailableException();
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    try {
      this.set = await this.loading;
      return this.set;
    } catch (error) {
      this.noteFailure(error);
      throw new IssuerUnavailableException(error);
    }
  }

  private async load(): Promise<RemoteJWKSet> {
    const jwksUri = this.options.jwksUri ?? (await this.discover());
    return createRemoteJWKSet(new URL(jwksUri), {
      cooldownDuration: this.options.jwksCooldownMs,
      cacheMaxAge: Infinity,
      timeoutDuration: this.options.fetchTimeoutMs,
      [customFetch]: this.fetch,
    });
  }

  /**
   * OpenID discovery: the document's `issuer` must be this issuer exactly (mix-up defence), its `jwks_uri` https (or
   * http on a loopback host with `allowInsecureLoopback`).
   */
  private async discover(): Promise<string> {
    const url = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await this.fetch(url, { headers: new Headers(), method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(this.options.fetchTimeoutMs) });
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
    const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== this.options.issuer) throw new Error(messages.otherIssuer(this.path, url, this.options.issuer, document.issuer));
    const problem = issuerUrlProblem(document.jwks_uri, this.options.allowInsecureLoopback, `${this.path}.allowInsecureLoopback`);
    if (problem) throw new Error(messages.jwksUri(problem));
    return document.jwks_uri as string;
  }
}
