import { IsBoolean, IsIn, IsInt, IsString, Matches, Max, Min, ValidateIf } from 'class-validator';
import { REQUIRED, type OptionsInput } from '../common/options.js';

/** A header value: printable ASCII, no CR/LF (no header injection through options). */
const HEADER_VALUE = /^[\x20-\x7e]*$/;

/** Layer 6 options: security headers on every answer, errors included. Every header can be turned off with `false`. */
export class SecurityHeadersOptions {
  declare readonly [REQUIRED]?: {};
  /** `Strict-Transport-Security` max-age, in seconds. Default 31536000 (one year); `0` omits the header. */
  @IsInt() @Min(0) @Max(63_072_000) hstsMaxAgeSec: number = 31_536_000;
  /** Add `includeSubDomains` to HSTS. Default `true`. */
  @IsBoolean() hstsIncludeSubDomains: boolean = true;
  /** Add `preload` to HSTS (only once the domain is on the preload list). Default `false`. */
  @IsBoolean() hstsPreload: boolean = false;
  /** `Content-Security-Policy` for API responses. Default `default-src 'none'; frame-ancestors 'none'`. */
  @ValidateIf((o: SecurityHeadersOptions) => o.contentSecurityPolicy !== false) @IsString() @Matches(HEADER_VALUE)
  contentSecurityPolicy: string | false = "default-src 'none'; frame-ancestors 'none'";
  /** `X-Frame-Options`. Default `DENY`. */
  @IsIn(['DENY', 'SAMEORIGIN', false]) frameOptions: 'DENY' | 'SAMEORIGIN' | false = 'DENY';
  /** `Referrer-Policy`. Default `no-referrer`. */
  @ValidateIf((o: SecurityHeadersOptions) => o.referrerPolicy !== false) @IsString() @Matches(HEADER_VALUE) referrerPolicy: string | false = 'no-referrer';
  /** `Cross-Origin-Resource-Policy`. Default `same-origin`. */
  @IsIn(['same-origin', 'same-site', 'cross-origin', false])
  crossOriginResourcePolicy: 'same-origin' | 'same-site' | 'cross-origin' | false = 'same-origin';
  /** `Cross-Origin-Opener-Policy`. Default `same-origin`. */
  @IsIn(['same-origin', 'same-origin-allow-popups', 'unsafe-none', false])
  crossOriginOpenerPolicy: 'same-origin' | 'same-origin-allow-popups' | 'unsafe-none' | false = 'same-origin';
  /**
   * `Cache-Control` of responses that are not authenticated. Default `no-store`. Authenticated responses
   * are always `no-store`, whatever this says.
   */
  @ValidateIf((o: SecurityHeadersOptions) => o.cacheControl !== false) @IsString() @Matches(HEADER_VALUE) cacheControl: string | false = 'no-store';
}

/** Per-route overrides (`@SecurityHeaders({...})`): any of the options above. */
export type SecurityHeadersOverrides = OptionsInput<SecurityHeadersOptions>;

/** The header set applied to a response: lower-case name → value. */
export type HeaderSet = ReadonlyArray<readonly [name: string, value: string]>;

/** Computes the header list once (at boot, or once per decorated route), never per request. */
export function buildHeaderSet(options: SecurityHeadersOptions): HeaderSet {
  const headers: Array<[string, string]> = [
    ['x-content-type-options', 'nosniff'],
    // The XSS auditor this header controlled is gone, and `1; mode=block` created leaks: disable it.
    ['x-xss-protection', '0'],
    ['x-permitted-cross-domain-policies', 'none'],
  ];
  if (options.hstsMaxAgeSec > 0) {
    let hsts = `max-age=${Math.floor(options.hstsMaxAgeSec)}`;
    if (options.hstsIncludeSubDomains) hsts += '; includeSubDomains';
    if (options.hstsPreload) hsts += '; preload';
    headers.push(['strict-transport-security', hsts]);
  }
  if (options.contentSecurityPolicy) headers.push(['content-security-policy', options.contentSecurityPolicy]);
  if (options.frameOptions) headers.push(['x-frame-options', options.frameOptions]);
  if (options.referrerPolicy) headers.push(['referrer-policy', options.referrerPolicy]);
  if (options.crossOriginResourcePolicy) headers.push(['cross-origin-resource-policy', options.crossOriginResourcePolicy]);
  if (options.crossOriginOpenerPolicy) headers.push(['cross-origin-opener-policy', options.crossOriginOpenerPolicy]);
  if (options.cacheControl) headers.push(['cache-control', options.cacheControl]);
  return headers;
}
