import type { IncomingMessage } from 'node:http';
import { deviceFingerprint, userAgentFamily } from './device-fingerprint.js';

const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const CHROME_MAC_130 = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';
const CHROME_MAC_131 = CHROME_MAC_130.replace('130.0.0.0', '131.0.6778.86');

describe('device fingerprint', () => {
  it('reads the family and OS without versions', () => {
    expect(userAgentFamily(CHROME_MAC_130)).toEqual({ browser: 'Chrome', os: 'macOS' });
    expect(userAgentFamily('Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1')).toEqual({ browser: 'Safari', os: 'iOS' });
    expect(userAgentFamily('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0')).toEqual({ browser: 'Firefox', os: 'Windows' });
    expect(userAgentFamily('Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0')).toEqual({ browser: 'Edge', os: 'Windows' });
    expect(userAgentFamily('curl/8.5.0')).toEqual({ browser: 'curl', os: 'other' });
  });

  it('is stable across browser updates, and changes with the device, the OS or the language', () => {
    const fp = (ua: string, lang = 'fr-FR,fr;q=0.9') => deviceFingerprint(request({ 'user-agent': ua, 'accept-language': lang }), 'x-device-id');
    expect(fp(CHROME_MAC_130)).toBe(fp(CHROME_MAC_131));
    expect(fp(CHROME_MAC_130)).toMatch(/^ua:[\w-]{16}$/);
    expect(fp(CHROME_MAC_130)).not.toBe(fp(CHROME_MAC_130.replace('Macintosh; Intel Mac OS X 10_15_7', 'X11; Linux x86_64')));
    expect(fp(CHROME_MAC_130)).not.toBe(fp(CHROME_MAC_130, 'en-US'));
  });

  it('prefers the app-set device id, never keeping its raw value', () => {
    const withId = deviceFingerprint(request({ 'x-device-id': 'device-123', 'user-agent': CHROME_MAC_130 }), 'x-device-id');
    expect(withId).toMatch(/^id:[\w-]{16}$/);
    expect(withId).not.toContain('device-123');
    expect(withId).toBe(deviceFingerprint(request({ 'x-device-id': 'device-123', 'user-agent': 'curl/8' }), 'x-device-id'));
  });
});
