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
 * data and unbounded.
 */
export function deviceFingerprint(request: IncomingMessage, deviceIdHeader: string): string {
  const id = request.headers[deviceIdHeader];
  if (typeof id === 'string' && id.length > 0 && id.length <= 256) return `id:${digest(id)}`;
  const { browser, os } = userAgentFamily(typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : '');
  const language = (typeof request.headers['accept-language'] === 'string' ? request.headers['accept-language'] : '').split(',')[0].split(';')[0].trim().toLowerCase().slice(0, 16);
  return `ua:${digest(`${browser}|${os}|${language}`)}`;
}
