import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const BROWSERS: Array<[RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  [/\bChrome\/|\bCriOS\/|\bChromium\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
  [/\bcurl\//, 'curl'],
  [/\bokhttp\//, 'okhttp'],
  [/\bPostmanRuntime\//, 'Postman'],
  [/\bpython-requests\/|\bpython-httpx\//, 'Python'],
  [/\bGo-http-client\//, 'Go'],
  [/\bnode-fetch\b|\bundici\b|\baxios\//, 'Node.js'],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/\b(?:iPhone|iPad|iPod)\b|\biOS\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bWindows\b/, 'Windows'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** The user-agent family and OS, without versions (they change with every update, a device does not). */
export function userAgentFamily(userAgent: string): { browser: string; os: string } {
  const ua = userAgent.slice(0, 512);
  return {
    browser: BROWSERS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'other',
    os: SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'other',
  };
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 16);
}

/**
 * A stable device fingerprint: the app's device id header when sent (`id:` + a hash of it), else the user-agent
 * family and OS with the first `Accept-Language` value (`ua:` + a hash). Never the raw values: they are personal
 * data and unbounded. Give a `cache` (a Map the caller owns) to parse and hash each client once.
 */
export function deviceFingerprint(request: IncomingMessage, deviceIdHeader: string, cache?: Map<string, string>): string {
  const id = request.headers[deviceIdHeader];
  if (typeof id === 'string' && id.length > 0 && id.length <= 256) return `id:${digest(id)}`;
  const userAgent = typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : '';
  const acceptLanguage = typeof request.headers['accept-language'] === 'string' ? request.headers['accept-language'] : '';
  // Most requests come from a few clients: parse and hash each (user agent, language) once.
  const cacheKey = `${userAgent}\u0000${acceptLanguage}`;
  let fingerprint = cache?.get(cacheKey);
  if (fingerprint === undefined) {
    const { browser, os } = userAgentFamily(userAgent);
    const language = acceptLanguage.split(',')[0].split(';')[0].trim().toLowerCase().slice(0, 16);
    fingerprint = `ua:${digest(`${browser}|${os}|${language}`)}`;
    if (cache && cacheKey.length <= 1024) {
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
      cache.set(cacheKey, fingerprint);
    }
  }
  return fingerprint;
}

/** Most (user agent, language) pairs a fingerprint cache keeps. */
const MAX_CACHED = 1000;
