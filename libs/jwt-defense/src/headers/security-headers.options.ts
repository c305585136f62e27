/** Layer 6 options. Every header can be turned off with `false`. */
export interface SecurityHeadersOptions {
  /** `Strict-Transport-Security` max-age, in seconds. Default 31536000 (one year); `0` omits the header. */
  hstsMaxAgeSec?: number;
  /** Add `includeSubDomains` to HSTS. Default `true`. */
  hstsIncludeSubDomains?: boolean;
  /** Add `preload` to HSTS (only once the domain is on the preload list). Default `false`. */
  hstsPreload?: boolean;
  /** `Content-Security-Policy` for API responses. Default `default-src 'none'; frame-ancestors 'none'`. */
  contentSecurityPolicy?: string | false;
  /** `X-Frame-Options`. Default `DENY`. */
  frameOptions?: 'DENY' | 'SAMEORIGIN' | false;
  /** `Referrer-Policy`. Default `no-referrer`. */
  referrerPolicy?: string | false;
  /** `Cross-Origin-Resource-Policy`. Default `same-origin`. */
  crossOriginResourcePolicy?: 'same-origin' | 'same-site' | 'cross-origin' | false;
  /** `Cross-Origin-Opener-Policy`. Default `same-origin`. */
  crossOriginOpenerPolicy?: 'same-origin' | 'same-origin-allow-popups' | 'unsafe-none' | false;
  /**
   * `Cache-Control` of responses that are not authenticated. Default `no-store`. Authenticated responses
   * are always `no-store`, whatever this says.
   */
  cacheControl?: string | false;
}

/** The header set applied to a response: lower-case name → value. */
export type HeaderSet = ReadonlyArray<readonly [name: string, value: string]>;

export const DEFAULT_SECURITY_HEADERS: Required<SecurityHeadersOptions> = {
  hstsMaxAgeSec: 31_536_000,
  hstsIncludeSubDomains: true,
  hstsPreload: false,
  contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
  frameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  crossOriginResourcePolicy: 'same-origin',
  crossOriginOpenerPolicy: 'same-origin',
  cacheControl: 'no-store',
};

/** Computes the header list once (at boot, or once per decorated route), never per request. */
export function buildHeaderSet(options: Required<SecurityHeadersOptions>): HeaderSet {
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
